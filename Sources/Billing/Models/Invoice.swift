import Common
import Postgres

/// A bill for one period of a subscription (or a plan change), with its lines.
public struct Invoice: Equatable, Sendable, RowDecodable {
    public enum Status: String, CaseIterable, Sendable {
        case open, paid, void, uncollectible
    }

    public var id: ID<Invoice>
    public var number: String
    public var customerID: ID<Customer>
    public var subscriptionID: ID<Subscription>
    public var billingReason: BillingReason
    public var status: Status
    public var currency: String
    public var subtotalCents: Int64
    public var balanceAppliedCents: Int64
    public var amountCents: Int64
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    public var dueAt: Timestamp
    public var createdAt: Timestamp
    public var paidAt: Timestamp?
    public var voidedAt: Timestamp?
    public var lines: [InvoiceLine]

    static let columns = """
        id, number, customer_id, subscription_id, billing_reason, status, currency, subtotal_cents, \
        balance_applied_cents, amount_cents, period_start, period_end, due_at, created_at, paid_at, voided_at
        """
    /// Reads the columns at the reader's cursor, leaving it after them (a join reads on);
    /// the lines come separately.
    public init(_ r: inout RowReader) throws {
        id = try r.id()
        number = try r.string()
        customerID = try r.id()
        subscriptionID = try r.id()
        billingReason = try r.value()
        status = try r.value()
        currency = try r.string()
        subtotalCents = try r.int64()
        balanceAppliedCents = try r.int64()
        amountCents = try r.int64()
        periodStart = try r.timestamp()
        periodEnd = try r.timestamp()
        dueAt = try r.timestamp()
        createdAt = try r.timestamp()
        paidAt = r.optionalTimestamp()
        voidedAt = r.optionalTimestamp()
        lines = []
    }

    init(
        id: ID<Invoice>, number: String, customerID: ID<Customer>, subscriptionID: ID<Subscription>,
        billingReason: BillingReason, status: Status, currency: String, totals: InvoiceTotals, periodStart: Timestamp,
        periodEnd: Timestamp, dueAt: Timestamp, createdAt: Timestamp, paidAt: Timestamp?, lines: [InvoiceLine]
    ) {
        self.id = id
        self.number = number
        self.customerID = customerID
        self.subscriptionID = subscriptionID
        self.billingReason = billingReason
        self.status = status
        self.currency = currency
        subtotalCents = totals.subtotal
        balanceAppliedCents = totals.balanceApplied
        amountCents = totals.amountDue
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.dueAt = dueAt
        self.createdAt = createdAt
        self.paidAt = paidAt
        voidedAt = nil
        self.lines = lines
    }

    /// `INV-000001`: six digits at least, more once a million invoices exist.
    static func formatNumber(_ value: Int64) -> String {
        let digits = String(value)
        return "INV-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }
}

/// One line of an invoice: a period's charge, a trial, or a proration credit (negative).
public struct InvoiceLine: Equatable, Sendable, RowDecodable {
    public enum Kind: String, Sendable {
        case subscription, proration, trial
    }

    public var id: ID<InvoiceLine>
    public var invoiceID: ID<Invoice>
    public var kind: Kind
    public var description: String
    public var amountCents: Int64
    public var periodStart: Timestamp
    public var periodEnd: Timestamp

    static let columns = "id, invoice_id, kind, description, amount_cents, period_start, period_end"
    /// The same columns of the joined table `child`.
    static let columnsOfChild = columns.split(separator: ", ").map { "child.\($0)" }.joined(separator: ", ")

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        invoiceID = try r.id()
        kind = try r.value()
        description = try r.string()
        amountCents = try r.int64()
        periodStart = try r.timestamp()
        periodEnd = try r.timestamp()
    }

    init(
        id: ID<InvoiceLine>, invoiceID: ID<Invoice>, kind: Kind, description: String, amountCents: Int64,
        periodStart: Timestamp, periodEnd: Timestamp
    ) {
        self.id = id
        self.invoiceID = invoiceID
        self.kind = kind
        self.description = description
        self.amountCents = amountCents
        self.periodStart = periodStart
        self.periodEnd = periodEnd
    }
}

extension Invoice: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("number", number)
        json.field("customer_id", customerID)
        json.field("subscription_id", subscriptionID)
        json.field("billing_reason", billingReason.rawValue)
        json.field("status", status.rawValue)
        json.field("currency", currency)
        json.field("subtotal_cents", subtotalCents)
        json.field("balance_applied_cents", balanceAppliedCents)
        json.field("amount_cents", amountCents)
        json.field("period_start", periodStart)
        json.field("period_end", periodEnd)
        json.field("due_at", dueAt)
        json.field("created_at", createdAt)
        json.field("paid_at", paidAt)
        json.field("voided_at", voidedAt)
        json.key("lines")
        json.beginArray()
        for line in lines { json.value(line) }
        json.endArray()
        json.endObject()
    }
}

extension InvoiceLine: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("kind", kind.rawValue)
        json.field("description", description)
        json.field("amount_cents", amountCents)
        json.field("period_start", periodStart)
        json.field("period_end", periodEnd)
        json.endObject()
    }
}
