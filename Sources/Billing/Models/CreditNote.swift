import Common
import Postgres

/// A correction of a finalized invoice (`invoicing.md` §8): an amount that reduces what is
/// still to pay, and what is left of it refunded, credited to the customer's balance or
/// settled outside the service.
public struct CreditNote: Equatable, Sendable, RowDecodable {
    public enum Status: String, Sendable {
        case issued, void
    }

    public enum Reason: String, CaseIterable, Sendable {
        case duplicate, fraudulent
        case orderChange = "order_change"
        case productUnsatisfactory = "product_unsatisfactory"
    }

    public var id: ID<CreditNote>
    public var number: String
    public var invoiceID: ID<Invoice>
    public var customerID: ID<Customer>
    public var status: Status
    public var amountCents: Int64
    public var taxCents: Int64
    /// The part that reduced the invoice's remainder (what a void gives back to it).
    var remainderAmountCents: Int64
    public var refundAmountCents: Int64
    public var creditAmountCents: Int64
    public var outOfBandAmountCents: Int64
    var madeInvoicePaid: Bool
    public var reason: Reason?
    public var memo: String?
    public var createdAt: Timestamp
    public var voidedAt: Timestamp?

    static let columns = """
        id, number, invoice_id, customer_id, status, amount_cents, tax_cents, remainder_amount_cents, \
        refund_amount_cents, credit_amount_cents, out_of_band_amount_cents, made_invoice_paid, reason, memo, \
        created_at, voided_at
        """

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        number = try r.string()
        invoiceID = try r.id()
        customerID = try r.id()
        status = try r.value()
        amountCents = try r.int64()
        taxCents = try r.int64()
        remainderAmountCents = try r.int64()
        refundAmountCents = try r.int64()
        creditAmountCents = try r.int64()
        outOfBandAmountCents = try r.int64()
        madeInvoicePaid = try r.bool()
        reason = r.optionalString().flatMap(Reason.init(rawValue:))
        memo = r.optionalString()
        createdAt = try r.timestamp()
        voidedAt = r.optionalTimestamp()
    }
}

extension CreditNote: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("number", number)
        json.field("invoice_id", invoiceID)
        json.field("customer_id", customerID)
        json.field("status", status.rawValue)
        json.field("amount_cents", amountCents)
        json.field("tax_cents", taxCents)
        json.field("refund_amount_cents", refundAmountCents)
        json.field("credit_amount_cents", creditAmountCents)
        json.field("out_of_band_amount_cents", outOfBandAmountCents)
        json.field("reason", reason?.rawValue)
        json.field("memo", memo)
        json.field("created_at", createdAt)
        json.field("voided_at", voidedAt)
        json.endObject()
    }
}
