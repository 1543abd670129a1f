import Common
import Postgres

/// Changes to live subscriptions: cancel, resume, change plan, and what the billing run
/// writes. Every change locks the subscription row first (then its customer), so that a
/// cancel, a plan change, a payment and a billing run on one subscription serialize.
extension SubscriptionService {
    /// A subscription with the invoice a change produced (`/change-plan` answers both).
    public struct Changed: Sendable, JSONWritable {
        public var subscription: Subscription
        public var invoice: Invoice?

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            subscription.writeFields(to: &json)
            json.field("invoice", invoice)
            json.endObject()
        }
    }

    static let ended = BillingError.conflict("the subscription has ended", slug: "subscription-ended")

    /// Reads and locks the subscription row until the transaction ends.
    static func lock(_ id: ID<Subscription>, on db: Connection) throws -> Subscription {
        let result = try db.query(
            "SELECT \(unsafeSQL: Subscription.columns) FROM subscriptions WHERE id = \(id) FOR UPDATE")
        guard let row = result.first else { throw BillingError.notFound("no such subscription") }
        return Subscription(row: row)
    }

    /// Cancels now (optionally crediting the unused part of the period to the customer's
    /// balance) or at the end of the current period.
    public static func cancel(
        _ id: ID<Subscription>, atPeriodEnd: Bool, prorate: Bool, now: Timestamp, on db: Connection
    ) throws -> Subscription {
        let subscription = try lock(id, on: db)
        guard subscription.status != .canceled else {
            throw BillingError.conflict("the subscription is already canceled", slug: "subscription-ended")
        }
        if atPeriodEnd {
            guard !prorate else {
                throw BillingError.invalid(field: "prorate", message: "applies only when canceling now")
            }
            let updated = try update(
                """
                UPDATE subscriptions SET cancel_at_period_end = true, canceled_at = \(now), \
                cancellation_reason = 'requested', updated_at = \(now) WHERE id = \(id) \
                RETURNING \(unsafeSQL: Subscription.columns)
                """, event: .subscriptionUpdated, now: now, on: db)
            return updated
        }
        if prorate && subscription.status != .trialing && now < subscription.currentPeriodEnd {
            let plan = try PlanService.get(subscription.planID, on: db)
            let credit = Proration.share(
                of: plan.amountCents, remaining: subscription.currentPeriodEnd.epochSeconds - now.epochSeconds,
                of: subscription.currentPeriodEnd.epochSeconds - subscription.currentPeriodStart.epochSeconds)
            if credit > 0 {
                var balances = try CustomerService.lockBalances([subscription.customerID], on: db)
                balances[subscription.customerID, default: 0] -= credit
                try CustomerService.saveBalances(balances, now: now, on: db)
            }
        }
        return try update(
            """
            UPDATE subscriptions SET status = 'canceled', canceled_at = \(now), ended_at = \(now), \
            cancel_at_period_end = false, cancellation_reason = 'requested', updated_at = \(now) \
            WHERE id = \(id) RETURNING \(unsafeSQL: Subscription.columns)
            """, event: .subscriptionCanceled, now: now, on: db)
    }

    /// Withdraws a cancellation at period end.
    public static func resume(_ id: ID<Subscription>, now: Timestamp, on db: Connection) throws -> Subscription {
        let subscription = try lock(id, on: db)
        guard subscription.status != .canceled else { throw ended }
        guard subscription.cancelAtPeriodEnd else { return subscription }
        return try update(
            """
            UPDATE subscriptions SET cancel_at_period_end = false, canceled_at = NULL, cancellation_reason = NULL, \
            updated_at = \(now) WHERE id = \(id) RETURNING \(unsafeSQL: Subscription.columns)
            """, event: .subscriptionUpdated, now: now, on: db)
    }

    /// Moves the subscription to another plan now. Same interval: the period stays and,
    /// with `prorate`, one invoice credits the unused time on the old plan and charges the
    /// same time on the new one. Another interval: the cycle restarts now with an invoice
    /// for the new plan's full period, less the unused old time when prorating.
    public static func changePlan(
        _ id: ID<Subscription>, to planID: ID<Plan>, prorate: Bool, now: Timestamp, config: BillingConfig,
        on db: Connection
    ) throws -> Changed {
        let subscription = try lock(id, on: db)
        guard subscription.status != .canceled else { throw ended }
        let newPlan = try PlanService.get(planID, on: db)
        guard newPlan.id != subscription.planID else {
            throw BillingError.conflict("the subscription is already on this plan", slug: "same-plan")
        }
        guard newPlan.isActive else { throw BillingError.conflict("the plan is not active", slug: "plan-inactive") }
        let oldPlan = try PlanService.get(subscription.planID, on: db)
        guard newPlan.currency == oldPlan.currency else {
            throw BillingError.invalid(
                field: "plan_id",
                message: "the subscription is billed in \(oldPlan.currency); this plan is in \(newPlan.currency)")
        }

        let change = PlanChange(
            from: oldPlan, to: newPlan, prorate: prorate, now: now, subscription: subscription)
        var invoice: Invoice?
        if !change.lines.isEmpty {
            var balances = try CustomerService.lockBalances([subscription.customerID], on: db)
            let before = balances
            invoice = try InvoiceWriter.write(
                [
                    .init(
                        subscriptionID: id, customerID: subscription.customerID, reason: "subscription_update",
                        currency: newPlan.currency, periodStart: now, periodEnd: change.periodEnd, lines: change.lines)
                ], balances: &balances, now: now, config: config, on: db
            ).first
            try CustomerService.saveBalances(balances.filter { before[$0.key] != $0.value }, now: now, on: db)
        }
        let updated = try update(
            """
            UPDATE subscriptions SET plan_id = \(newPlan.id), billing_cycle_anchor = \(change.anchor), \
            current_period_start = \(change.periodStart), current_period_end = \(change.periodEnd), \
            updated_at = \(now) WHERE id = \(id) RETURNING \(unsafeSQL: Subscription.columns)
            """, event: .subscriptionUpdated, now: now, on: db)
        return Changed(subscription: updated, invoice: invoice)
    }

    private static func update(_ query: SQLQuery, event: Event.Kind, now: Timestamp, on db: Connection) throws
        -> Subscription
    {
        let subscription = Subscription(row: try db.query(query)[0])
        try EventLog.append(event, subscription, at: now, on: db)
        return subscription
    }

    // MARK: Billing run writes

    /// Stores what the run decided for each locked subscription, with their events.
    static func saveRenewals(_ renewals: [(Subscription, Renewal)], now: Timestamp, on db: Connection) throws {
        guard !renewals.isEmpty else { return }
        let rows = try db.query(
            """
            UPDATE subscriptions s SET status = v.status, current_period_start = v.period_start, \
            current_period_end = v.period_end, ended_at = v.ended_at, \
            canceled_at = CASE WHEN v.ended_at IS NULL THEN s.canceled_at ELSE coalesce(s.canceled_at, v.ended_at) END, \
            updated_at = \(now) \
            FROM unnest(\(SQLArray(renewals) { $0.0.id })::uuid[], \(SQLArray(renewals) { $0.1.status.rawValue })::text[], \
            \(SQLArray(renewals) { $0.1.currentPeriodStart })::timestamptz[], \
            \(SQLArray(renewals) { $0.1.currentPeriodEnd })::timestamptz[], \
            \(SQLArray(renewals) { $0.1.endedAt })::timestamptz[]) AS v(id, status, period_start, period_end, ended_at) \
            WHERE s.id = v.id RETURNING \(unsafeSQL: Subscription.qualifiedColumns)
            """
        ).rows.map(Subscription.init(row:))
        var byID: [ID<Subscription>: Renewal] = [:]
        for (subscription, renewal) in renewals { byID[subscription.id] = renewal }
        var events: [(Event.Kind, Subscription)] = []
        for subscription in rows {
            guard let renewal = byID[subscription.id] else { continue }
            if renewal.trialEnded { events.append((.subscriptionTrialEnded, subscription)) }
            if renewal.endedAt != nil {
                events.append((.subscriptionCanceled, subscription))
            } else if !renewal.trialEnded {
                events.append((.subscriptionUpdated, subscription))
            }
        }
        try EventLog.append(events, at: now, on: db)
    }

    static func markPastDue(_ ids: [ID<Subscription>], now: Timestamp, on db: Connection) throws {
        guard !ids.isEmpty else { return }
        let rows = try db.query(
            """
            UPDATE subscriptions SET status = 'past_due', updated_at = \(now) \
            WHERE id = ANY(\(SQLArray(ids))::uuid[]) RETURNING \(unsafeSQL: Subscription.columns)
            """)
        try EventLog.append(rows.rows.map { (Event.Kind.subscriptionUpdated, Subscription(row: $0)) }, at: now, on: db)
    }

    static func cancelForNonpayment(_ ids: [ID<Subscription>], at time: Timestamp, now: Timestamp, on db: Connection)
        throws
    {
        guard !ids.isEmpty else { return }
        let rows = try db.query(
            """
            UPDATE subscriptions SET status = 'canceled', canceled_at = \(time), ended_at = \(time), \
            cancellation_reason = 'nonpayment', cancel_at_period_end = false, updated_at = \(now) \
            WHERE id = ANY(\(SQLArray(ids))::uuid[]) RETURNING \(unsafeSQL: Subscription.columns)
            """)
        try EventLog.append(rows.rows.map { (Event.Kind.subscriptionCanceled, Subscription(row: $0)) }, at: now, on: db)
    }

    /// A `past_due` subscription with no open invoice left becomes `active` again.
    static func reactivateIfSettled(_ id: ID<Subscription>, now: Timestamp, on db: Connection) throws {
        let rows = try db.query(
            """
            UPDATE subscriptions SET status = 'active', updated_at = \(now) \
            WHERE id = \(id) AND status = 'past_due' \
            AND NOT EXISTS (SELECT 1 FROM invoices WHERE subscription_id = \(id) AND status = 'open') \
            RETURNING \(unsafeSQL: Subscription.columns)
            """)
        if let row = rows.first { try EventLog.append(.subscriptionUpdated, Subscription(row: row), at: now, on: db) }
    }
}
