import Common
import Postgres

/// Invoice transitions: open → paid | void | uncollectible, uncollectible → paid. A paid
/// or void invoice never changes again (a database trigger refuses it too). Each action
/// locks the invoice's subscription first, in the same order as every other change.
extension InvoiceService {
    public enum Action: Sendable {
        case pay(at: Timestamp?)
        case void
        case markUncollectible
    }

    public static func apply(_ action: Action, to id: ID<Invoice>, now: Timestamp, on db: Connection) throws -> Invoice
    {
        guard
            let subscriptionID = try db.query("SELECT subscription_id FROM invoices WHERE id = \(id)").first?.id(
                0, as: Subscription.self)
        else { throw BillingError.notFound("no such invoice") }
        _ = try SubscriptionService.lock(subscriptionID, on: db)
        guard
            let row = try db.query("SELECT status FROM invoices WHERE id = \(id) FOR UPDATE").first,
            let status = row.string(0).flatMap(Invoice.Status.init(rawValue:))
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
        try EventLog.append(event, invoice, at: now, on: db)
        // Nothing left to pay: a past_due subscription is active again.
        if event != .invoiceMarkedUncollectible {
            try SubscriptionService.reactivateIfSettled(subscriptionID, now: now, on: db)
        }
        return invoice
    }

    private static func refused(_ verb: String, _ status: Invoice.Status) -> BillingError {
        .conflict("an invoice that is \(status.rawValue) cannot be \(verb)", slug: "invoice-transition")
    }

    /// Dunning: the subscriptions' open invoices due before `dueBefore` become uncollectible.
    static func markUncollectible(
        subscriptions: [ID<Subscription>], dueBefore: Timestamp, at time: Timestamp, now: Timestamp, on db: Connection
    ) throws {
        guard !subscriptions.isEmpty else { return }
        let rows = try db.query(
            """
            UPDATE invoices SET status = 'uncollectible', marked_uncollectible_at = \(time) \
            WHERE subscription_id = ANY(\(SQLArray(subscriptions))::uuid[]) AND status = 'open' \
            AND due_at <= \(dueBefore) RETURNING \(unsafeSQL: Invoice.columns)
            """)
        let invoices = try withLines(rows.rows.map { Invoice(row: $0) }, on: db)
        try EventLog.append(invoices.map { (Event.Kind.invoiceMarkedUncollectible, $0) }, at: now, on: db)
    }
}
