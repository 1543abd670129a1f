import Common
import Postgres

/// A change, recorded in the same transaction as the change itself.
public struct Event: Sendable, RowDecodable {
    public enum Kind: String, CaseIterable, Sendable {
        case customerCreated = "customer.created"
        case customerUpdated = "customer.updated"
        case planCreated = "plan.created"
        case planUpdated = "plan.updated"
        case subscriptionCreated = "subscription.created"
        case subscriptionUpdated = "subscription.updated"
        case subscriptionCanceled = "subscription.canceled"
        case subscriptionTrialEnded = "subscription.trial_ended"
        case invoiceCreated = "invoice.created"
        case invoiceUpdated = "invoice.updated"
        case invoiceDeleted = "invoice.deleted"
        case invoiceFinalized = "invoice.finalized"
        case invoicePaid = "invoice.paid"
        case invoiceVoided = "invoice.voided"
        case invoiceMarkedUncollectible = "invoice.marked_uncollectible"
        case invoiceItemCreated = "invoice_item.created"
        case invoiceItemUpdated = "invoice_item.updated"
        case invoiceItemDeleted = "invoice_item.deleted"
        case paymentCreated = "payment.created"
        case taxRateCreated = "tax_rate.created"
        case taxRateUpdated = "tax_rate.updated"
        case couponCreated = "coupon.created"
        case couponUpdated = "coupon.updated"
        case creditNoteCreated = "credit_note.created"
        case creditNoteVoided = "credit_note.voided"
        case webhookEndpointCreated = "webhook_endpoint.created"
        case webhookEndpointUpdated = "webhook_endpoint.updated"
        case webhookEndpointDeleted = "webhook_endpoint.deleted"
        case webhookEndpointDisabled = "webhook_endpoint.disabled"
        case meterCreated = "meter.created"
        case meterUpdated = "meter.updated"
    }

    public var id: ID<Event>
    public var type: String
    public var createdAt: Timestamp
    /// The test clock of the customer it is about, if it is on one (`time.md`).
    public var testClockID: ID<TestClock>?
    /// The object after the change, as stored JSON text.
    public var data: String

    static let columns = "id, type, created_at, test_clock_id, data"

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        type = try r.string()
        createdAt = try r.timestamp()
        testClockID = r.optionalID()
        data = try r.string()
    }
}

extension Event: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("type", type)
        json.field("created_at", createdAt)
        json.field("test_clock_id", testClockID)
        json.key("data")
        json.raw(data)
        json.endObject()
    }
}
