import Common
import Postgres

/// Writes a new invoice in the caller's transaction: the next gapless number, the
/// customer's balance applied, the lines, and the events.
enum InvoiceWriter {
    struct Draft {
        var subscription: Subscription
        var reason: String
        var currency: String
        var periodStart: Timestamp
        var periodEnd: Timestamp
        var lines: [(kind: InvoiceLine.Kind, description: String, amount: Int64, start: Timestamp, end: Timestamp)]
    }

    /// The customer must be locked by the caller: its balance is read and written here.
    static func write(
        _ draft: Draft, customer: inout Customer, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> Invoice {
        var subtotal: Int64 = 0
        for line in draft.lines {
            let (sum, overflow) = subtotal.addingReportingOverflow(line.amount)
            guard !overflow else { throw BillingError.invalid(field: "amount_cents", message: "invoice total overflows") }
            subtotal = sum
        }
        let totals = InvoiceTotals(subtotal: subtotal, balance: customer.balanceCents)
        // The counter row is locked until commit, so numbers are gapless: a rolled-back
        // transaction returns its number with it.
        let counter = try db.query(
            "UPDATE invoice_number_counter SET last_value = last_value + 1 WHERE singleton RETURNING last_value")
        let number = Invoice.formatNumber(counter.first.flatMap { $0.int64(0) } ?? 0)
        let id = ID<Invoice>.generate()
        let paid = totals.amountDue == 0
        let lines = draft.lines.map {
            InvoiceLine(
                invoiceID: id, kind: $0.kind, description: $0.description, amountCents: $0.amount,
                periodStart: $0.start, periodEnd: $0.end)
        }
        let invoice = Invoice(
            id: id, number: number, customerID: customer.id, subscriptionID: draft.subscription.id,
            billingReason: draft.reason, status: paid ? .paid : .open, currency: draft.currency, totals: totals,
            periodStart: draft.periodStart, periodEnd: draft.periodEnd,
            dueAt: draft.periodStart.adding(seconds: Int64(config.invoiceDueDays) * 86_400), createdAt: now,
            paidAt: paid ? now : nil, lines: lines)
        try db.query(
            """
            INSERT INTO invoices (id, number, customer_id, subscription_id, billing_reason, status, currency, \
            subtotal_cents, balance_applied_cents, amount_cents, period_start, period_end, due_at, created_at, paid_at) \
            VALUES (\(invoice.id), \(invoice.number), \(invoice.customerID), \(invoice.subscriptionID), \
            \(invoice.billingReason), \(invoice.status.rawValue), \(invoice.currency), \(invoice.subtotalCents), \
            \(invoice.balanceAppliedCents), \(invoice.amountCents), \(invoice.periodStart), \(invoice.periodEnd), \
            \(invoice.dueAt), \(invoice.createdAt), \(invoice.paidAt))
            """)
        for (position, line) in lines.enumerated() {
            try db.query(
                """
                INSERT INTO invoice_lines (id, invoice_id, position, kind, description, amount_cents, period_start, \
                period_end) VALUES (\(line.id), \(id), \(position), \(line.kind.rawValue), \(line.description), \
                \(line.amountCents), \(line.periodStart), \(line.periodEnd))
                """)
        }
        customer.balanceCents = totals.newBalance
        try EventLog.append(.invoiceCreated, invoice, at: now, on: db)
        if paid { try EventLog.append(.invoicePaid, invoice, at: now, on: db) }
        return invoice
    }
}
