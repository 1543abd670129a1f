import Common
import Postgres

/// One-off invoices: drafts that can still change, deleted or finalized (`invoicing.md`
/// §1). Finalizing prices the draft with the customer's balance of that moment and gives
/// it the next number of the gapless sequence.
extension InvoiceService {
    public struct CreateDraft: Sendable {
        public var customerID: ID<Customer>
        public var currency: String?
        public var description: String?
        public var daysUntilDue: Int?
        public var includePendingItems: Bool
        public init(
            customerID: ID<Customer>, currency: String?, description: String?, daysUntilDue: Int?,
            includePendingItems: Bool
        ) {
            self.customerID = customerID
            self.currency = currency
            self.description = description
            self.daysUntilDue = daysUntilDue
            self.includePendingItems = includePendingItems
        }
    }

    public struct UpdateDraft: Sendable {
        public var description: String?
        public var daysUntilDue: Int?
        public init(description: String?, daysUntilDue: Int?) {
            self.description = description
            self.daysUntilDue = daysUntilDue
        }
    }

    static let notDraft = BillingError.conflict("only a draft invoice can change", slug: "invoice-not-draft")

    public static func createDraft(_ input: CreateDraft, now: Timestamp, config: BillingConfig, on db: Connection)
        throws -> Invoice
    {
        var events = EventLog.Pending()
        let customer = try CustomerService.lock(input.customerID, on: db)
        let now = try TestClockService.now(onClock: customer.testClockID, else: now, events: &events, on: db)
        let currency = try CustomerService.billingCurrency(
            of: customer, given: input.currency, events: &events, now: now, on: db)
        let invoice = try InvoiceWriter.writeDraft(
            .init(
                subscriptionID: nil, customerID: customer.id, reason: .manual, currency: currency, periodStart: now,
                periodEnd: now, lines: [], description: input.description,
                daysUntilDue: input.daysUntilDue ?? config.invoiceDueDays,
                takesPendingItems: input.includePendingItems), events: &events, now: now, on: db)
        try events.append(at: now, on: db)
        return try presented(
            invoice, balance: customer.balanceCents,
            rates: try TaxRateService.terms(ofRates: customer.taxRateIDs, on: db))
    }

    public static func updateDraft(_ id: ID<Invoice>, _ input: UpdateDraft, now: Timestamp, on db: Connection)
        throws -> Invoice
    {
        let (draft, owner) = try lockWithOwner(id, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: owner.testClockID, else: now, events: &events, on: db)
        guard draft.status == .draft else { throw notDraft }
        var updated = try Invoice(
            row: try db.query(
                """
                UPDATE invoices SET description = coalesce(\(input.description), description), \
                days_until_due = coalesce(\(input.daysUntilDue)::int, days_until_due) \
                WHERE id = \(id) RETURNING \(unsafeSQL: Invoice.columns)
                """)[0])
        updated.lines = draft.lines
        updated = try presented(updated, for: owner, on: db)
        events.add(.invoiceUpdated, updated)
        try events.append(at: now, on: db)
        return updated
    }

    /// Deletes a draft; the items it took are pending again.
    public static func deleteDraft(_ id: ID<Invoice>, now: Timestamp, on db: Connection) throws {
        let (locked, owner) = try lockWithOwner(id, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: owner.testClockID, else: now, events: &events, on: db)
        guard locked.status == .draft else {
            throw BillingError.conflict("only a draft invoice can be deleted", slug: "invoice-not-draft")
        }
        guard try db.query("SELECT 1 FROM usage_windows WHERE invoice_id = \(id)").rowCount == 0 else {
            throw BillingError.conflict(
                "a draft that bills usage is never deleted: the billing run finalizes it, or finalize it now",
                slug: "invoice-bills-usage")
        }
        let draft = try presented(locked, for: owner, on: db)
        try db.query("DELETE FROM invoice_lines WHERE invoice_id = \(id)")
        let released = try db.query(
            """
            UPDATE invoice_items SET invoice_id = NULL, updated_at = \(now) WHERE invoice_id = \(id) \
            RETURNING \(unsafeSQL: InvoiceItem.columns)
            """
        ).rows.map(InvoiceItem.init(row:))
        try db.query("DELETE FROM invoices WHERE id = \(id)")
        events.add(.invoiceDeleted, draft)
        events.add(.invoiceItemUpdated, each: released)
        try events.append(at: now, on: db)
    }

    /// Finalizes a draft: priced with the customer's balance now, numbered, open (or paid
    /// at once when nothing is due).
    public static func finalize(_ id: ID<Invoice>, now: Timestamp, config: BillingConfig, on db: Connection) throws
        -> Invoice
    {
        var (invoice, owner) = try lockWithOwner(id, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: owner.testClockID, else: now, events: &events, on: db)
        let balance = owner.balance
        guard invoice.status == .draft else {
            throw BillingError.conflict("the invoice is already finalized", slug: "invoice-not-draft")
        }
        // Finalized before its grace ends, a draft takes the usage counted so far.
        if let withUsage = try UsageBilling.addUsageLines(toDraft: id, now: now, on: db) { invoice = withUsage }
        guard !invoice.lines.isEmpty else {
            throw BillingError.conflict("a draft without lines cannot be finalized", slug: "invoice-empty")
        }
        invoice = try presented(invoice, for: owner, on: db)
        invoice.finalize(at: now)
        invoice.dueAt =
            invoice.subscriptionID == nil
            ? now.adding(seconds: Int64(invoice.daysUntilDue ?? config.invoiceDueDays) * 86_400)
            : invoice.periodStart.adding(seconds: Int64(config.invoiceDueDays) * 86_400)
        if invoice.totals.newBalance != balance {
            try CustomerService.saveBalances(
                [invoice.customerID: invoice.totals.newBalance], events: &events, now: now, on: db)
        }
        // The number last: the global counter's lock is held until the transaction commits.
        invoice.number = try NumberSeries.next(
            .invoice, of: invoice.customerID, onClock: owner.testClockID, config.numbering, on: db)
        let totals = invoice.totals
        let lines = invoice.lines
        invoice = try Invoice(
            row: try db.query(
                """
                UPDATE invoices SET number = \(invoice.number), status = \(invoice.status.rawValue), \
                finalized_at = \(now), due_at = \(invoice.dueAt), paid_at = \(invoice.paidAt), \
                subtotal_cents = \(totals.subtotal), discount_cents = \(totals.discount), tax_cents = \(totals.tax), \
                taxes = \(invoice.taxesJSON), \
                total_cents = \(totals.total), balance_applied_cents = \(totals.balanceApplied), \
                amount_cents = \(totals.amountDue), amount_remaining_cents = \(invoice.amountRemainingCents) \
                WHERE id = \(id) RETURNING \(unsafeSQL: Invoice.columns)
                """)[0])
        invoice.lines = lines
        // The invoice before the balance it moved: cause, then effect.
        var ordered = EventLog.Pending()
        ordered.add(.invoiceFinalized, invoice)
        if invoice.status == .paid { ordered.add(.invoicePaid, invoice) }
        try ordered.append(at: now, on: db)
        try events.append(at: now, on: db)
        return invoice
    }

    /// A locked draft priced with its owner's balance and rates.
    static func presented(_ draft: Invoice, for owner: Owner, on db: Connection) throws -> Invoice {
        try presented(
            draft, balance: owner.balance, rates: try TaxRateService.terms(ofRates: owner.taxRateIDs, on: db))
    }

    /// Rebuilds the item lines of a draft from its items (after an item was added to it,
    /// changed or removed), after its other lines, in the items' order.
    static func refreshItemLines(of id: ID<Invoice>, now: Timestamp, on db: Connection) throws -> Invoice {
        try db.query("DELETE FROM invoice_lines WHERE invoice_id = \(id) AND kind = 'item'")
        let items = try db.query(
            "SELECT \(unsafeSQL: InvoiceItem.columns) FROM invoice_items WHERE invoice_id = \(id) ORDER BY seq"
        ).rows.map(InvoiceItem.init(row:))
        var draft = try get(id, on: db)
        let lines = items.map(Pricing.itemLine)
        let newLines = zip(lines, ID<InvoiceLine>.generate(count: lines.count)).map { InvoiceLine(id: $1, $0) }
        if !newLines.isEmpty {
            let first = draft.lines.count
            try db.query(
                InvoiceWriter.insertLines(
                    newLines.enumerated().map { (invoice: id, position: first + $0.offset, line: $0.element) }))
        }
        draft.lines += newLines
        return try presentingDrafts(try InvoiceWriter.storeDraftTotals([draft], on: db), on: db)[0]
    }
}
