import Common
import Postgres

/// Invoice transitions: open → paid | void | uncollectible, uncollectible → paid, and the
/// payments that pay an invoice in one or more parts. A paid or void invoice never changes
/// again (a database trigger refuses it too). Each action locks the invoice's customer,
/// then its subscription, then the invoice: the lock order of every other change.
extension InvoiceService {
    public enum Action: Sendable {
        case void
        case markUncollectible

        /// The statement that moves open invoices to the action's status, as of `now`.
        func update(_ ids: [ID<Invoice>], at now: Timestamp) -> SQLQuery {
            switch self {
            case .void:
                // Nothing more is collected on a void invoice.
                """
                UPDATE invoices SET status = 'void', voided_at = \(now), amount_remaining_cents = 0 \
                WHERE id = ANY(\(SQLArray(ids))::uuid[]) RETURNING \(unsafeSQL: Invoice.columns)
                """
            case .markUncollectible:
                """
                UPDATE invoices SET status = 'uncollectible', marked_uncollectible_at = \(now) \
                WHERE id = ANY(\(SQLArray(ids))::uuid[]) RETURNING \(unsafeSQL: Invoice.columns)
                """
            }
        }

        var event: Event.Kind { self == .void ? .invoiceVoided : .invoiceMarkedUncollectible }
    }

    /// A payment as asked for: `amount` nil pays the whole remainder (`/pay`).
    public struct PaymentRequest: Sendable {
        public var amount: Int64?
        public var paidAt: Timestamp?
        public var reference: String?
        public init(amount: Int64?, paidAt: Timestamp?, reference: String?) {
            self.amount = amount
            self.paidAt = paidAt
            self.reference = reference
        }
    }

    /// Locks the invoice's customer, its subscription (if any), then the invoice, and
    /// returns the invoice with its lines as locked.
    static func lock(_ id: ID<Invoice>, on db: Connection) throws -> Invoice { try lockWithOwner(id, on: db).0 }

    /// What a draft is priced with: its customer's balance and tax rates, as locked.
    struct Owner {
        var balance: Int64
        var taxRateIDs: [ID<TaxRate>]
        /// The customer's test clock, whose time its writes happen at.
        var testClockID: ID<TestClock>?
    }

    /// `lock`, with what the customer prices a draft with.
    static func lockWithOwner(_ id: ID<Invoice>, on db: Connection) throws -> (Invoice, Owner) {
        // Owners never change: the customer is found through the invoice and locked in the
        // same statement (read as locked), then the subscription, then the invoice.
        guard
            let row = try db.query(
                """
                SELECT i.subscription_id, c.balance_cents, c.tax_rate_ids, c.test_clock_id FROM invoices i \
                JOIN customers c ON c.id = i.customer_id WHERE i.id = \(id) FOR UPDATE OF c
                """
            ).first
        else { throw BillingError.notFound("no such invoice") }
        var r = RowReader(row)
        let subscription: ID<Subscription>? = r.optionalID()
        let owner = Owner(balance: try r.int64(), taxRateIDs: try r.ids(), testClockID: r.optionalID())
        if let subscriptionID = subscription {
            _ = try SubscriptionService.lock(subscriptionID, on: db)
        }
        let rows = try db.query(
            lines.joined(to: "SELECT \(unsafeSQL: Invoice.columns), seq FROM invoices WHERE id = \(id) FOR UPDATE")
        ).rows
        guard let invoice = try folding(rows).first else { throw BillingError.notFound("no such invoice") }
        return (invoice, owner)
    }

    public static func apply(_ action: Action, to id: ID<Invoice>, now: Timestamp, on db: Connection) throws -> Invoice
    {
        let (invoice, owner) = try lockWithOwner(id, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: owner.testClockID, else: now, events: &events, on: db)
        guard invoice.status == .open else {
            throw refused(action == .void ? "voided" : "marked uncollectible", invoice.status)
        }
        var updated = try Invoice(row: try db.query(action.update([id], at: now))[0])
        updated.lines = invoice.lines
        events.add(action.event, updated)
        // Nothing left to pay: a past_due subscription is active again.
        if action == .void, let subscriptionID = invoice.subscriptionID {
            try SubscriptionService.reactivateIfSettled(subscriptionID, events: &events, now: now, on: db)
        }
        try events.append(at: now, on: db)
        return updated
    }

    /// Records a payment of an open or uncollectible invoice, checked against what remains
    /// at the moment it runs (under the invoice's row lock; the CHECK on the invoice's
    /// remainder refuses an overpayment whatever runs). The payment that leaves nothing to
    /// pay makes the invoice paid, as of its `paid_at`.
    public static func pay(
        _ id: ID<Invoice>, _ request: PaymentRequest, now: Timestamp, on db: Connection
    ) throws -> (payment: Payment, invoice: Invoice) {
        let (invoice, owner) = try lockWithOwner(id, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: owner.testClockID, else: now, events: &events, on: db)
        guard invoice.status == .open || invoice.status == .uncollectible else {
            throw refused("paid", invoice.status)
        }
        let paidAt = request.paidAt ?? now
        guard paidAt <= now else { throw BillingError.invalid(field: "paid_at", message: "must not be in the future") }
        if let finalizedAt = invoice.finalizedAt, paidAt < finalizedAt {
            throw BillingError.invalid(
                field: "paid_at", message: "must not be before the invoice was finalized (\(finalizedAt))")
        }
        let remaining = invoice.amountRemainingCents
        let amount = request.amount ?? remaining
        guard amount >= 1, amount <= remaining else {
            throw BillingError.invalid(
                field: "amount_cents",
                message: "must be from 1 to the amount remaining, \(remaining): an invoice is never overpaid")
        }
        let payment = try Payment(
            row: try db.query(
                """
                INSERT INTO payments (id, invoice_id, amount_cents, paid_at, reference, created_at) \
                VALUES (\(ID<Payment>.generate()), \(id), \(amount), \(paidAt), \(request.reference), \(now)) \
                RETURNING \(unsafeSQL: Payment.columns)
                """)[0])
        let settled = amount == remaining
        var updated = try Invoice(
            row: try db.query(
                """
                UPDATE invoices SET amount_paid_cents = amount_paid_cents + \(amount), \
                amount_remaining_cents = amount_remaining_cents - \(amount), \
                status = CASE WHEN \(settled) THEN 'paid' ELSE status END, \
                paid_at = CASE WHEN \(settled) THEN \(paidAt)::timestamptz END \
                WHERE id = \(id) RETURNING \(unsafeSQL: Invoice.columns)
                """)[0])
        updated.lines = invoice.lines
        events.add(.paymentCreated, payment)
        events.add(settled ? .invoicePaid : .invoiceUpdated, updated)
        // Nothing left to pay: a past_due subscription is active again.
        if settled, let subscriptionID = invoice.subscriptionID {
            try SubscriptionService.reactivateIfSettled(subscriptionID, events: &events, now: now, on: db)
        }
        try events.append(at: now, on: db)
        return (payment, updated)
    }

    public static func payments(of id: ID<Invoice>, page: PageRequest, on db: Connection) throws -> Page<Payment> {
        var query = ListQuery(table: "payments", columns: Payment.columns)
        query.filter("invoice_id", id)
        let payments = try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Payment.init(row:))
        // Whether the invoice exists is asked only when it has no payments to show.
        guard payments.data.isEmpty else { return payments }
        guard try db.query("SELECT 1 FROM invoices WHERE id = \(id)").rowCount > 0 else {
            throw BillingError.notFound("no such invoice")
        }
        return payments
    }

    static func refused(_ verb: String, _ status: Invoice.Status) -> BillingError {
        .conflict("an invoice that is \(status.rawValue) cannot be \(verb)", slug: "invoice-transition")
    }

    /// The invoices a paused subscription's periods made, as the pause says (`time.md`):
    /// voided or marked uncollectible at once (those still open: one that cost nothing is
    /// paid already).
    static func settlePaused(
        _ invoices: [(Invoice, PauseCollection.Behavior?)], events: inout EventLog.Pending, now: Timestamp,
        on db: Connection
    ) throws {
        for (behavior, action) in [
            (PauseCollection.Behavior.void, Action.void), (.markUncollectible, .markUncollectible),
        ] {
            let ids = invoices.filter { $0.1 == behavior && $0.0.status == .open }.compactMap(\.0.id)
            guard !ids.isEmpty else { continue }
            let rows = try db.query(action.update(ids, at: now))
            events.add(action.event, each: try withLines(rows.rows.map { try Invoice(row: $0) }, on: db))
        }
    }

    /// Dunning's last step: the open invoices of subscriptions canceled for nonpayment
    /// that were past their grace when the subscription ended become uncollectible as of
    /// that end, at most `limit` per call (invoices are locked without waiting, so it runs
    /// beside payments and other runs); returns how many it marked.
    static func markUncollectibleAfterNonpayment(
        graceDays: Int, asOf: Timestamp, scope: BillingRun.Scope, limit: Int, now: Timestamp, on db: Connection
    ) throws -> Int {
        // A clock's run waits for each invoice (its clock moves on after the run); the
        // real-time run leaves a locked one to its next run.
        let clock = scope.testClockID
        let wait = clock == nil ? "SKIP LOCKED" : ""
        let rows = try db.query(
            """
            WITH due AS (SELECT i.id, s.ended_at FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id \
            WHERE i.status = 'open' AND i.due_at <= \(asOf.adding(seconds: -Int64(graceDays) * 86_400)) \
            AND s.status = 'canceled' AND s.cancellation_reason = 'nonpayment' \
            AND i.due_at <= s.ended_at - make_interval(days => \(graceDays)) \
            AND s.test_clock_id IS NOT DISTINCT FROM \(clock)\(query: scope.shardCondition("s.customer_id")) \
            ORDER BY i.seq LIMIT \(limit) FOR UPDATE OF i \(unsafeSQL: wait)) \
            UPDATE invoices i SET status = 'uncollectible', marked_uncollectible_at = due.ended_at FROM due \
            WHERE i.id = due.id RETURNING \(unsafeSQL: qualified(Invoice.columns, with: "i"))
            """)
        let invoices = try withLines(rows.rows.map { try Invoice(row: $0) }, on: db)
        var events = EventLog.Pending(testClockID: clock)
        events.add(.invoiceMarkedUncollectible, each: invoices)
        try events.append(at: now, on: db)
        return invoices.count
    }
}
