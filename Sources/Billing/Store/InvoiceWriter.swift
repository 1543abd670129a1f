import Common
import Postgres

/// Writes new invoices in the caller's transaction, any number in a fixed number of
/// statements: the next gapless numbers, the customers' balances applied, the lines and
/// the events. A subscription start writes one; a billing-run batch writes hundreds.
enum InvoiceWriter {
    struct Line {
        var kind: InvoiceLine.Kind
        var description: String
        var amount: Int64
        var start: Timestamp
        var end: Timestamp
    }

    struct Draft {
        var subscriptionID: ID<Subscription>
        var customerID: ID<Customer>
        var reason: String
        var currency: String
        var periodStart: Timestamp
        var periodEnd: Timestamp
        var lines: [Line]
    }

    /// `balances` holds the balance of every customer of `drafts`, read under a row lock
    /// by the caller; it is updated in place and the caller stores the changed ones.
    static func write(
        _ drafts: [Draft], balances: inout [ID<Customer>: Int64], now: Timestamp, config: BillingConfig,
        on db: Connection
    ) throws -> [Invoice] {
        guard !drafts.isEmpty else { return [] }
        // The counter row stays locked until commit, so numbers are gapless: a rolled-back
        // transaction gives its numbers back.
        let counter = try db.query(
            """
            UPDATE invoice_number_counter SET last_value = last_value + \(drafts.count)::bigint \
            WHERE singleton RETURNING last_value
            """)
        let last = counter.first.flatMap { $0.int64(0) } ?? 0
        var number = last - Int64(drafts.count)

        var invoices: [Invoice] = []
        invoices.reserveCapacity(drafts.count)
        for draft in drafts {
            var subtotal: Int64 = 0
            for line in draft.lines {
                let (sum, overflow) = subtotal.addingReportingOverflow(line.amount)
                guard !overflow else {
                    throw BillingError.invalid(field: "amount_cents", message: "invoice total overflows")
                }
                subtotal = sum
            }
            let totals = InvoiceTotals(subtotal: subtotal, balance: balances[draft.customerID] ?? 0)
            balances[draft.customerID] = totals.newBalance
            number += 1
            let id = ID<Invoice>.generate()
            let paid = totals.amountDue == 0
            invoices.append(
                Invoice(
                    id: id, number: Invoice.formatNumber(number), customerID: draft.customerID,
                    subscriptionID: draft.subscriptionID, billingReason: draft.reason, status: paid ? .paid : .open,
                    currency: draft.currency, totals: totals, periodStart: draft.periodStart,
                    periodEnd: draft.periodEnd,
                    dueAt: draft.periodStart.adding(seconds: Int64(config.invoiceDueDays) * 86_400), createdAt: now,
                    paidAt: paid ? now : nil,
                    lines: draft.lines.map {
                        InvoiceLine(
                            invoiceID: id, kind: $0.kind, description: $0.description, amountCents: $0.amount,
                            periodStart: $0.start, periodEnd: $0.end)
                    }))
        }
        try insert(invoices, on: db)
        var events: [(Event.Kind, Invoice)] = invoices.map { (.invoiceCreated, $0) }
        events += invoices.filter { $0.status == .paid }.map { (.invoicePaid, $0) }
        try EventLog.append(events, at: now, on: db)
        return invoices
    }

    private static func insert(_ invoices: [Invoice], on db: Connection) throws {
        try db.query(
            """
            INSERT INTO invoices (id, number, customer_id, subscription_id, billing_reason, status, currency, \
            subtotal_cents, balance_applied_cents, amount_cents, period_start, period_end, due_at, created_at, paid_at) \
            SELECT * FROM unnest(\(SQLArray(invoices.map(\.id)))::uuid[], \(SQLArray(invoices.map(\.number)))::text[], \
            \(SQLArray(invoices.map(\.customerID)))::uuid[], \(SQLArray(invoices.map(\.subscriptionID)))::uuid[], \
            \(SQLArray(invoices.map(\.billingReason)))::text[], \(SQLArray(invoices.map(\.status.rawValue)))::text[], \
            \(SQLArray(invoices.map(\.currency)))::text[], \(SQLArray(invoices.map(\.subtotalCents)))::bigint[], \
            \(SQLArray(invoices.map(\.balanceAppliedCents)))::bigint[], \(SQLArray(invoices.map(\.amountCents)))::bigint[], \
            \(SQLArray(invoices.map(\.periodStart)))::timestamptz[], \(SQLArray(invoices.map(\.periodEnd)))::timestamptz[], \
            \(SQLArray(invoices.map(\.dueAt)))::timestamptz[], \(SQLArray(invoices.map(\.createdAt)))::timestamptz[], \
            \(SQLArray(invoices.map(\.paidAt)))::timestamptz[])
            """)
        let lines = invoices.flatMap { invoice in
            invoice.lines.enumerated().map { (position: $0.offset, line: $0.element) }
        }
        try db.query(
            """
            INSERT INTO invoice_lines (id, invoice_id, position, kind, description, amount_cents, period_start, \
            period_end) SELECT * FROM unnest(\(SQLArray(lines.map(\.line.id)))::uuid[], \
            \(SQLArray(lines.map(\.line.invoiceID)))::uuid[], \(SQLArray(lines.map(\.position)))::int[], \
            \(SQLArray(lines.map(\.line.kind.rawValue)))::text[], \(SQLArray(lines.map(\.line.description)))::text[], \
            \(SQLArray(lines.map(\.line.amountCents)))::bigint[], \(SQLArray(lines.map(\.line.periodStart)))::timestamptz[], \
            \(SQLArray(lines.map(\.line.periodEnd)))::timestamptz[])
            """)
    }
}
