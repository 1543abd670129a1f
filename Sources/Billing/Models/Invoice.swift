import Common
import Postgres

/// A bill for one period of a subscription (or a plan change), with its lines.
public struct Invoice: Equatable, Sendable {
    public enum Status: String, CaseIterable, Sendable {
        case open, paid, void, uncollectible
    }

    public var id: ID<Invoice>
    public var number: String
    public var customerID: ID<Customer>
    public var subscriptionID: ID<Subscription>
    public var billingReason: String
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
    static let columnCount = columns.split(separator: ",").count

    init(row: Row, lines: [InvoiceLine] = []) {
        id = row.required(row.id(0), column: 0)
        number = row.required(row.string(1), column: 1)
        customerID = row.required(row.id(2), column: 2)
        subscriptionID = row.required(row.id(3), column: 3)
        billingReason = row.required(row.string(4), column: 4)
        status = row.required(row.string(5).flatMap(Status.init(rawValue:)), column: 5)
        currency = row.required(row.string(6), column: 6)
        subtotalCents = row.required(row.int64(7), column: 7)
        balanceAppliedCents = row.required(row.int64(8), column: 8)
        amountCents = row.required(row.int64(9), column: 9)
        periodStart = row.required(row.timestamp(10), column: 10)
        periodEnd = row.required(row.timestamp(11), column: 11)
        dueAt = row.required(row.timestamp(12), column: 12)
        createdAt = row.required(row.timestamp(13), column: 13)
        paidAt = row.timestamp(14)
        voidedAt = row.timestamp(15)
        self.lines = lines
    }

    init(
        id: ID<Invoice>, number: String, customerID: ID<Customer>, subscriptionID: ID<Subscription>,
        billingReason: String, status: Status, currency: String, totals: InvoiceTotals, periodStart: Timestamp,
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
public struct InvoiceLine: Equatable, Sendable {
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

    init(row: Row) {
        id = row.required(row.id(0), column: 0)
        invoiceID = row.required(row.id(1), column: 1)
        kind = row.required(row.string(2).flatMap(Kind.init(rawValue:)), column: 2)
        description = row.required(row.string(3), column: 3)
        amountCents = row.required(row.int64(4), column: 4)
        periodStart = row.required(row.timestamp(5), column: 5)
        periodEnd = row.required(row.timestamp(6), column: 6)
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
        json.field("billing_reason", billingReason)
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
