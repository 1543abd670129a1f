import Common
import Postgres

/// Invoice transitions: open → paid | void | uncollectible, uncollectible → paid. A paid
/// or void invoice never changes again (a database trigger refuses it too). Each action
/// locks the invoice's customer, then its subscription, then the invoice: the lock order
/// of every other change.
extension InvoiceService {
    public enum Action: Sendable {
        case pay(at: Timestamp?)
        case void
        case markUncollectible
    }

    public static func apply(_ action: Action, to id: ID<Invoice>, now: Timestamp, on db: Connection) throws -> Invoice
    {
        // Owners never change: the customer is found through the invoice and locked in the
        // same statement, then the subscription, then the invoice.
        guard
            let owners = try db.query(
                """
                SELECT i.subscription_id FROM invoices i JOIN customers c ON c.id = i.customer_id \
                WHERE i.id = \(id) FOR UPDATE OF c
                """
            ).first, let subscriptionID = owners.id(0, as: Subscription.self)
        else { throw BillingError.notFound("no such invoice") }
        _ = try SubscriptionService.lock(subscriptionID, on: db)
        guard
            let row = try db.query("SELECT status, created_at FROM invoices WHERE id = \(id) FOR UPDATE").first,
            let status = row.string(0).flatMap(Invoice.Status.init(rawValue:)), let finalizedAt = row.timestamp(1)
        else { throw BillingError.notFound("no such invoice") }

        let update: SQLQuery
        let event: Event.Kind
        switch action {
        case .pay(let paidAt):
            guard status == .open || status == .uncollectible else { throw refused("paid", status) }
            let paidAt = paidAt ?? now
            guard paidAt <= now else {
                throw BillingError.invalid(field: "paid_at", message: "must not be in the future")
            }
            guard paidAt >= finalizedAt else {
                throw BillingError.invalid(
                    field: "paid_at", message: "must not be before the invoice was finalized (\(finalizedAt))")
            }
            update = "UPDATE invoices SET status = 'paid', paid_at = \(paidAt) WHERE id = \(id)"
            event = .invoicePaid
        case .void:
            guard status == .open else { throw refused("voided", status) }
            update = "UPDATE invoices SET status = 'void', voided_at = \(now) WHERE id = \(id)"
            event = .invoiceVoided
        case .markUncollectible:
            guard status == .open else { throw refused("marked uncollectible", status) }
            update = "UPDATE invoices SET status = 'uncollectible', marked_uncollectible_at = \(now) WHERE id = \(id)"
            event = .invoiceMarkedUncollectible
        }
        try db.query(update)
        let invoice = try get(id, on: db)
        var events = EventLog.Pending()
        events.add(event, invoice)
        // Nothing left to pay: a past_due subscription is active again.
        if event != .invoiceMarkedUncollectible {
            try SubscriptionService.reactivateIfSettled(subscriptionID, events: &events, now: now, on: db)
        }
        try events.append(at: now, on: db)
        return invoice
    }

    private static func refused(_ verb: String, _ status: Invoice.Status) -> BillingError {
        .conflict("an invoice that is \(status.rawValue) cannot be \(verb)", slug: "invoice-transition")
    }

    /// Dunning's last step: the open invoices of subscriptions canceled for nonpayment
    /// that were past their grace when the subscription ended become uncollectible as of
    /// that end, at most `limit` per call (invoices are locked without waiting, so it runs
    /// beside payments and other runs); returns how many it marked.
    static func markUncollectibleAfterNonpayment(
        graceDays: Int, asOf: Timestamp, limit: Int, now: Timestamp, on db: Connection
    ) throws -> Int {
        let rows = try db.query(
            """
            WITH due AS (SELECT i.id, s.ended_at FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id \
            WHERE i.status = 'open' AND i.due_at <= \(asOf.adding(seconds: -Int64(graceDays) * 86_400)) \
            AND s.status = 'canceled' AND s.cancellation_reason = 'nonpayment' \
            AND i.due_at <= s.ended_at - make_interval(days => \(graceDays)) \
            ORDER BY i.seq LIMIT \(limit) FOR UPDATE OF i SKIP LOCKED) \
            UPDATE invoices i SET status = 'uncollectible', marked_uncollectible_at = due.ended_at FROM due \
            WHERE i.id = due.id RETURNING \(unsafeSQL: qualified(Invoice.columns, with: "i"))
            """)
        let invoices = try withLines(rows.rows.map { try Invoice(row: $0) }, on: db)
        var events = EventLog.Pending()
        events.add(.invoiceMarkedUncollectible, each: invoices)
        try events.append(at: now, on: db)
        return invoices.count
    }
}
