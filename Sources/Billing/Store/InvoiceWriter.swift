import Common
import Postgres

/// Writes new invoices in the caller's transaction, any number in a fixed number of
/// statements: priced (`Pricing`), the customers' balances applied, the next gapless
/// numbers, the lines, and their events added to the transaction's. A subscription start
/// writes one; a billing-run batch writes hundreds.
enum InvoiceWriter {
    struct Draft {
        var subscriptionID: ID<Subscription>
        var customerID: ID<Customer>
        var reason: BillingReason
        var currency: String
        var periodStart: Timestamp
        var periodEnd: Timestamp
        var lines: [PricedLine]
    }

    /// `balances` holds the balance of every customer of `drafts`, read under a row lock
    /// by the caller; it is updated in place and the caller stores the changed ones.
    static func write(
        _ drafts: [Draft], balances: inout [ID<Customer>: Int64], events: inout EventLog.Pending, now: Timestamp,
        config: BillingConfig, on db: Connection
    ) throws -> [Invoice] {
        guard !drafts.isEmpty else { return [] }
        var invoices: [Invoice] = []
        invoices.reserveCapacity(drafts.count)
        var lineIDs = ID<InvoiceLine>.generate(count: drafts.reduce(0) { $0 + $1.lines.count }).makeIterator()
        for (draft, id) in zip(drafts, ID<Invoice>.generate(count: drafts.count)) {
            let totals = try Pricing.totals(of: draft.lines, balance: balances[draft.customerID] ?? 0)
            balances[draft.customerID] = totals.newBalance
            let paid = totals.amountDue == 0
            invoices.append(
                Invoice(
                    id: id, number: "", customerID: draft.customerID,
                    subscriptionID: draft.subscriptionID, billingReason: draft.reason, status: paid ? .paid : .open,
                    currency: draft.currency, totals: totals, periodStart: draft.periodStart,
                    periodEnd: draft.periodEnd,
                    dueAt: draft.periodStart.adding(seconds: Int64(config.invoiceDueDays) * 86_400), createdAt: now,
                    paidAt: paid ? now : nil,
                    lines: draft.lines.map {
                        InvoiceLine(
                            id: lineIDs.next()!, invoiceID: id, kind: $0.kind, description: $0.description,
                            amountCents: $0.amount, periodStart: $0.start, periodEnd: $0.end)
                    }))
        }
        // Everything above, and the lines (their invoices are checked at commit, see
        // sql/0004), is done before the counter row is locked: that lock serializes every
        // transaction that makes invoices until it commits (the price of gapless numbers: a
        // rolled-back transaction gives its numbers back), so only what needs the numbers
        // happens while it is held.
        let statements = Inserts(invoices)
        try db.query(statements.lines)
        let counter = try db.query(
            """
            UPDATE invoice_number_counter SET last_value = last_value + \(drafts.count)::bigint \
            WHERE singleton RETURNING last_value
            """)
        let first = (counter.first.flatMap { $0.int64(0) } ?? 0) - Int64(drafts.count) + 1
        for index in invoices.indices { invoices[index].number = Invoice.formatNumber(first + Int64(index)) }
        try db.query(statements.invoices(numbered: SQLArray(invoices) { $0.number }))
        for invoice in invoices {
            events.add(.invoiceCreated, invoice)
            if invoice.status == .paid { events.add(.invoicePaid, invoice) }
        }
        return invoices
    }

    /// The INSERT statements of new invoices and their lines, built before their numbers
    /// are known; `invoices(numbered:)` only adds the numbers.
    private struct Inserts {
        let id, customerID, subscriptionID, reason, status, currency, subtotal, balanceApplied, amount: SQLArray
        let periodStart, periodEnd, dueAt, createdAt, paidAt: SQLArray
        let lines: SQLQuery

        init(_ invoices: [Invoice]) {
            id = SQLArray(invoices) { $0.id }
            customerID = SQLArray(invoices) { $0.customerID }
            subscriptionID = SQLArray(invoices) { $0.subscriptionID }
            reason = SQLArray(invoices) { $0.billingReason.rawValue }
            status = SQLArray(invoices) { $0.status.rawValue }
            currency = SQLArray(invoices) { $0.currency }
            subtotal = SQLArray(invoices) { $0.subtotalCents }
            balanceApplied = SQLArray(invoices) { $0.balanceAppliedCents }
            amount = SQLArray(invoices) { $0.amountCents }
            periodStart = SQLArray(invoices) { $0.periodStart }
            periodEnd = SQLArray(invoices) { $0.periodEnd }
            dueAt = SQLArray(invoices) { $0.dueAt }
            createdAt = SQLArray(invoices) { $0.createdAt }
            paidAt = SQLArray(invoices) { $0.paidAt }
            let lines = invoices.flatMap { invoice in
                invoice.lines.enumerated().map { (position: $0.offset, line: $0.element) }
            }
            self.lines = """
                INSERT INTO invoice_lines (id, invoice_id, position, kind, description, amount_cents, period_start, \
                period_end) SELECT * FROM unnest(\(SQLArray(lines) { $0.line.id })::uuid[], \
                \(SQLArray(lines) { $0.line.invoiceID })::uuid[], \(SQLArray(lines) { $0.position })::int[], \
                \(SQLArray(lines) { $0.line.kind.rawValue })::text[], \(SQLArray(lines) { $0.line.description })::text[], \
                \(SQLArray(lines) { $0.line.amountCents })::bigint[], \(SQLArray(lines) { $0.line.periodStart })::timestamptz[], \
                \(SQLArray(lines) { $0.line.periodEnd })::timestamptz[])
                """
        }

        func invoices(numbered numbers: SQLArray) -> SQLQuery {
            """
            INSERT INTO invoices (id, number, customer_id, subscription_id, billing_reason, status, currency, \
            subtotal_cents, balance_applied_cents, amount_cents, period_start, period_end, due_at, created_at, paid_at) \
            SELECT * FROM unnest(\(id)::uuid[], \(numbers)::text[], \(customerID)::uuid[], \(subscriptionID)::uuid[], \
            \(reason)::text[], \(status)::text[], \(currency)::text[], \(subtotal)::bigint[], \(balanceApplied)::bigint[], \
            \(amount)::bigint[], \(periodStart)::timestamptz[], \(periodEnd)::timestamptz[], \(dueAt)::timestamptz[], \
            \(createdAt)::timestamptz[], \(paidAt)::timestamptz[])
            """
        }
    }
}
