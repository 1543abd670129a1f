import Common
import Postgres

/// A one-off charge (or, negative, a credit) for a customer: pending until an invoice
/// takes it, or added to a draft directly.
public struct InvoiceItem: Equatable, Sendable, RowDecodable {
    public var id: ID<InvoiceItem>
    public var customerID: ID<Customer>
    /// Nil while pending.
    public var invoiceID: ID<Invoice>?
    public var currency: String
    public var description: String
    public var quantity: Int
    public var unitAmountCents: Int64
    public var amountCents: Int64
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    public var createdAt: Timestamp

    static let columns = """
        id, customer_id, invoice_id, currency, description, quantity, unit_amount_cents, amount_cents, \
        period_start, period_end, created_at
        """

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        customerID = try r.id()
        invoiceID = r.optionalID()
        currency = try r.string()
        description = try r.string()
        quantity = try r.int()
        unitAmountCents = try r.int64()
        amountCents = try r.int64()
        periodStart = try r.timestamp()
        periodEnd = try r.timestamp()
        createdAt = try r.timestamp()
    }
}

extension InvoiceItem: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("customer_id", customerID)
        json.field("invoice_id", invoiceID)
        json.field("currency", currency)
        json.field("description", description)
        json.field("quantity", quantity)
        json.field("unit_amount_cents", unitAmountCents)
        json.field("amount_cents", amountCents)
        json.field("period_start", periodStart)
        json.field("period_end", periodEnd)
        json.field("created_at", createdAt)
        json.endObject()
    }
}

/// One part of what an invoice was paid.
public struct Payment: Equatable, Sendable, RowDecodable {
    public var id: ID<Payment>
    public var invoiceID: ID<Invoice>
    public var amountCents: Int64
    public var paidAt: Timestamp
    public var reference: String?
    public var createdAt: Timestamp

    static let columns = "id, invoice_id, amount_cents, paid_at, reference, created_at"

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        invoiceID = try r.id()
        amountCents = try r.int64()
        paidAt = try r.timestamp()
        reference = r.optionalString()
        createdAt = try r.timestamp()
    }
}

extension Payment: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("invoice_id", invoiceID)
        json.field("amount_cents", amountCents)
        json.field("paid_at", paidAt)
        json.field("reference", reference)
        json.field("created_at", createdAt)
        json.endObject()
    }
}
