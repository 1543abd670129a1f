import Common
import Postgres

/// A bill: a subscription's period (or change), or a one-off charge of invoice items.
/// A draft has no number yet and its totals are shown as if it were finalized now.
public struct Invoice: Equatable, Sendable, RowDecodable {
    public enum Status: String, CaseIterable, Sendable {
        case draft, open, paid, void, uncollectible
    }

    /// Nil for a preview, which is never stored.
    public var id: ID<Invoice>?
    public var number: String?
    public var customerID: ID<Customer>
    /// Nil for a one-off (`manual`) invoice.
    public var subscriptionID: ID<Subscription>?
    public var billingReason: BillingReason
    public var status: Status
    public var currency: String
    public var description: String?
    public var daysUntilDue: Int?
    public var totals: InvoiceTotals
    /// The `taxes` array as stored at finalization (JSON); `totals.taxes` when priced here.
    var storedTaxes = "[]"
    /// The discount applied when priced here; else `storedDiscounts` (JSON) tells.
    var discount: AppliedDiscount?
    var storedDiscounts = "[]"
    public var amountPaidCents: Int64
    public var amountRemainingCents: Int64
    /// The sum of its issued credit notes.
    public var creditedCents: Int64 = 0
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    public var dueAt: Timestamp?
    public var finalizedAt: Timestamp?
    public var finalizesAt: Timestamp?
    public var createdAt: Timestamp
    public var paidAt: Timestamp?
    public var voidedAt: Timestamp?
    public var lines: [InvoiceLine]
    /// The secret part of its hosted page's address (`/i/<token>`), made with the invoice;
    /// shown once it is finalized (documents.md).
    public var hostedToken: String

    /// The amount due (`amount_cents` and `amount_due_cents` in the API).
    public var amountCents: Int64 { totals.amountDue }

    static let columns = """
        id, number, customer_id, subscription_id, billing_reason, status, currency, description, days_until_due, \
        subtotal_cents, discount_cents, discounts, tax_cents, taxes, total_cents, balance_applied_cents, amount_cents, \
        amount_paid_cents, amount_remaining_cents, credited_cents, period_start, period_end, due_at, finalized_at, finalizes_at, \
        created_at, paid_at, voided_at, hosted_token
        """
    /// Reads the columns at the reader's cursor, leaving it after them (a join reads on);
    /// the lines come separately.
    public init(_ r: inout RowReader) throws {
        id = try r.id()
        number = r.optionalString()
        customerID = try r.id()
        subscriptionID = r.optionalID()
        billingReason = try r.value()
        status = try r.value()
        currency = try r.string()
        description = r.optionalString()
        daysUntilDue = r.optionalInt()
        let subtotal = try r.int64()
        let discount = try r.int64()
        storedDiscounts = try r.string()
        let tax = try r.int64()
        storedTaxes = try r.string()
        totals = InvoiceTotals(
            subtotal: subtotal, discount: discount, tax: tax, taxes: [], total: try r.int64(),
            balanceApplied: try r.int64(), amountDue: try r.int64())
        amountPaidCents = try r.int64()
        amountRemainingCents = try r.int64()
        creditedCents = try r.int64()
        periodStart = try r.timestamp()
        periodEnd = try r.timestamp()
        dueAt = r.optionalTimestamp()
        finalizedAt = r.optionalTimestamp()
        finalizesAt = r.optionalTimestamp()
        createdAt = try r.timestamp()
        paidAt = r.optionalTimestamp()
        voidedAt = r.optionalTimestamp()
        hostedToken = try r.string()
        lines = []
    }

    init(
        id: ID<Invoice>?, customerID: ID<Customer>, subscriptionID: ID<Subscription>?, billingReason: BillingReason,
        status: Status, currency: String, totals: InvoiceTotals, periodStart: Timestamp, periodEnd: Timestamp,
        dueAt: Timestamp?, createdAt: Timestamp, lines: [InvoiceLine]
    ) {
        self.id = id
        number = nil
        self.customerID = customerID
        self.subscriptionID = subscriptionID
        self.billingReason = billingReason
        self.status = status
        self.currency = currency
        description = nil
        daysUntilDue = nil
        self.totals = totals
        amountPaidCents = 0
        amountRemainingCents = totals.amountDue
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.dueAt = dueAt
        finalizedAt = nil
        finalizesAt = nil
        self.createdAt = createdAt
        paidAt = nil
        voidedAt = nil
        self.lines = lines
        hostedToken = SecretToken.make()
    }

    /// Finalized at `time`: open, or paid at once when nothing is due.
    mutating func finalize(at time: Timestamp) {
        finalizedAt = time
        amountRemainingCents = totals.amountDue
        status = totals.amountDue == 0 ? .paid : .open
        paidAt = status == .paid ? time : nil
    }

    /// The `taxes` array as JSON: priced here, or as stored.
    var taxesJSON: String {
        guard !totals.taxes.isEmpty else { return storedTaxes }
        var json = JSONWriter(capacity: 256)
        json.beginArray()
        for tax in totals.taxes { json.value(tax) }
        json.endArray()
        return String(decoding: json.bytes, as: UTF8.self)
    }

    /// The `discounts` array as JSON: priced here, or as stored.
    var discountsJSON: String {
        guard let discount else { return storedDiscounts }
        var json = JSONWriter(capacity: 128)
        json.beginArray()
        json.value(discount)
        json.endArray()
        return String(decoding: json.bytes, as: UTF8.self)
    }

    /// `<BILLING_PUBLIC_URL>/i/<token>` once finalized; a draft (or preview) has none.
    public var hostedInvoiceURL: String? {
        guard id != nil, status != .draft else { return nil }
        return DocumentSettings.shared.publicURL + "/i/" + hostedToken
    }

    /// Shown as a preview: what would be made, with no id or number of its own.
    public mutating func markAsPreview() {
        id = nil
        number = nil
        for index in lines.indices { lines[index].id = nil }
    }
}

/// One line of an invoice: a period's charge, a trial, a proration (a credit is negative)
/// or an invoice item.
public struct InvoiceLine: Equatable, Sendable, RowDecodable {
    public enum Kind: String, Sendable {
        case subscription, proration, trial, item, usage
    }

    /// Nil on a preview.
    public var id: ID<InvoiceLine>?
    public var kind: Kind
    public var description: String
    public var amountCents: Int64
    public var quantity: Int
    /// Nil only on proration lines of invoices made before quantities existed.
    public var unitAmountCents: Int64?
    public var invoiceItemID: ID<InvoiceItem>?
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    /// What a line of kind `usage` priced (`usage.md`).
    public var usage: UsageQuantity?

    static let columns = """
        id, kind, description, amount_cents, quantity, unit_amount_cents, invoice_item_id, period_start, period_end, \
        meter_id, usage_quantity::text
        """
    /// The same columns of the joined table `child`.
    static let columnsOfChild = qualified(columns, with: "child")

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        kind = try r.value()
        description = try r.string()
        amountCents = try r.int64()
        quantity = try r.int()
        unitAmountCents = r.optionalInt64()
        invoiceItemID = r.optionalID()
        periodStart = try r.timestamp()
        periodEnd = try r.timestamp()
        let meter: ID<Meter>? = r.optionalID()
        let quantity = r.optionalString()
        if let meter, let quantity {
            guard let exact = ExactDecimal(parsing: quantity) else { throw StoredDataError("a usage line's quantity") }
            usage = UsageQuantity(meterID: meter, quantity: exact)
        }
    }

    init(id: ID<InvoiceLine>?, _ line: PricedLine) {
        self.id = id
        kind = line.kind
        description = line.description
        amountCents = line.amount
        quantity = line.quantity
        unitAmountCents = line.unitAmount
        invoiceItemID = line.itemID
        periodStart = line.start
        periodEnd = line.end
        usage = line.usage
    }

    /// The line as the pricing seam sees it.
    var priced: PricedLine {
        PricedLine(
            kind: kind, description: description, amount: amountCents, quantity: quantity, unitAmount: unitAmountCents,
            start: periodStart, end: periodEnd, itemID: invoiceItemID, usage: usage)
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
        json.field("description", description)
        json.field("subtotal_cents", totals.subtotal)
        json.field("discount_cents", totals.discount)
        json.key("discounts")
        json.raw(discountsJSON)
        json.field("tax_cents", totals.tax)
        json.key("taxes")
        if totals.taxes.isEmpty {
            json.raw(storedTaxes)
        } else {
            json.beginArray()
            for tax in totals.taxes { json.value(tax) }
            json.endArray()
        }
        json.field("total_cents", totals.total)
        json.field("balance_applied_cents", totals.balanceApplied)
        json.field("amount_due_cents", totals.amountDue)
        json.field("amount_paid_cents", amountPaidCents)
        json.field("amount_remaining_cents", amountRemainingCents)
        json.field("credited_cents", creditedCents)
        json.field("amount_cents", totals.amountDue)
        json.field("period_start", periodStart)
        json.field("period_end", periodEnd)
        json.field("days_until_due", daysUntilDue.map { Int64($0) })
        json.field("due_at", dueAt)
        json.field("finalized_at", finalizedAt)
        json.field("finalizes_at", finalizesAt)
        json.field("created_at", createdAt)
        json.field("paid_at", paidAt)
        json.field("voided_at", voidedAt)
        json.field("hosted_invoice_url", hostedInvoiceURL)
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
        // A usage line's quantity is exact, a decimal string; every other line's an integer.
        if let usage { json.field("quantity", usage.quantity.description) } else { json.field("quantity", quantity) }
        json.field("unit_amount_cents", unitAmountCents)
        json.field("invoice_item_id", invoiceItemID)
        json.field("meter_id", usage?.meterID)
        json.field("period_start", periodStart)
        json.field("period_end", periodEnd)
        json.endObject()
    }
}
