import Common
import Postgres

/// Changes to live subscriptions: cancel, resume, change plan. Every change first locks
/// the customer and the subscription and brings the subscription up to date
/// (`lockUpToDate`), so that a cancel, a plan change, a payment and a billing run on one
/// subscription serialize, and each acts on the real current period.
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

    /// Reads and locks the subscription row until the transaction ends (its customer must
    /// be locked already: the lock order).
    static func lock(_ id: ID<Subscription>, on db: Connection) throws -> Subscription {
        let result = try db.query(
            "SELECT \(unsafeSQL: Subscription.columns) FROM subscriptions WHERE id = \(id) FOR UPDATE")
        guard let row = result.first else { throw BillingError.notFound("no such subscription") }
        return try Subscription(row: row)
    }

    /// What was billed for the rest of the current period and will not be used after
    /// `now`: each stored line of the period (its plan's charge and the proration lines of
    /// changes within it, on invoices that were not voided) prorated over its own span.
    /// Credit comes from what was billed, never from a plan's price: a change made without
    /// proration was not billed, so it cannot be credited either.
    static func unusedBilled(_ subscription: Subscription, at now: Timestamp, on db: Connection) throws -> Int64 {
        guard subscription.status != .trialing, now < subscription.currentPeriodEnd else { return 0 }
        let rows = try db.query(
            """
            SELECT l.amount_cents, l.period_start, l.period_end FROM invoice_lines l \
            JOIN invoices i ON i.id = l.invoice_id \
            WHERE i.subscription_id = \(subscription.id) AND i.status NOT IN ('void', 'draft') \
            AND l.kind IN ('subscription', 'proration') \
            AND l.period_end = \(subscription.currentPeriodEnd) AND l.period_start >= \(subscription.currentPeriodStart)
            """)
        let lines = try rows.rows.map { row in
            var r = RowReader(row)
            return Proration.BilledLine(amount: try r.int64(), start: try r.timestamp(), end: try r.timestamp())
        }
        guard let unused = Proration.unused(of: lines, at: now) else {
            throw BillingError.invalid(field: "balance_cents", message: "the credit is out of range")
        }
        return unused
    }

    /// Cancels now (optionally crediting the unused part of the period to the customer's
    /// balance) or at the end of the current period.
    public static func cancel(
        _ id: ID<Subscription>, atPeriodEnd: Bool, prorate: Bool, now: Timestamp, config: BillingConfig,
        on db: Connection
    ) throws -> Subscription {
        var events = EventLog.Pending()
        var now = now
        let subscription = try lockUpToDate(id, events: &events, now: &now, config: config, on: db).subscription
        guard subscription.status != .canceled else {
            throw BillingError.conflict("the subscription is already canceled", slug: "subscription-ended")
        }
        let result: Subscription
        if atPeriodEnd {
            guard !prorate else {
                throw BillingError.invalid(field: "prorate", message: "applies only when canceling now")
            }
            result = try update(
                """
                UPDATE subscriptions SET cancel_at_period_end = true, canceled_at = \(now), \
                cancellation_reason = 'requested', \(unsafeSQL: dropsPendingUpdate), updated_at = \(now) \
                WHERE id = \(id) \
                RETURNING \(unsafeSQL: Subscription.columns)
                """, event: .subscriptionUpdated, events: &events, on: db)
        } else {
            // Its usage so far goes on a final invoice, a draft until the grace has passed.
            try UsageBilling.closeCurrent([(id, now)], events: &events, now: now, config: config, on: db)
            result = try update(
                """
                UPDATE subscriptions SET status = 'canceled', canceled_at = \(now), ended_at = \(now), \
                cancel_at_period_end = false, cancellation_reason = 'requested', \
                \(unsafeSQL: dropsPendingUpdate), updated_at = \(now) \
                WHERE id = \(id) RETURNING \(unsafeSQL: Subscription.columns)
                """, event: .subscriptionCanceled, events: &events, on: db)
            let credit = prorate ? try unusedBilled(subscription, at: now, on: db) : 0
            if credit > 0 {
                var balances = try CustomerService.lockBalances([subscription.customerID], on: db)
                balances[subscription.customerID, default: 0] -= credit
                try CustomerService.saveBalances(balances, events: &events, now: now, on: db)
            }
        }
        try events.append(at: now, on: db)
        return result
    }

    /// Withdraws a cancellation at period end.
    public static func resume(_ id: ID<Subscription>, now: Timestamp, config: BillingConfig, on db: Connection)
        throws -> Subscription
    {
        try act(on: id, now: now, config: config, on: db) { subscription, _ in
            guard subscription.status != .canceled else { throw ended }
            return subscription.cancelAtPeriodEnd
                ? "cancel_at_period_end = false, canceled_at = NULL, cancellation_reason = NULL" : nil
        }
    }

    /// The actions that only set columns of the subscription: it is brought up to date
    /// under its locks (`now` becoming its customer's time), then `change` checks it and
    /// answers the assignments to make (nil: nothing changes), stored with
    /// `subscription.updated`.
    static func act(
        on id: ID<Subscription>, now: Timestamp, config: BillingConfig, on db: Connection,
        _ change: (Subscription, Timestamp) throws -> SQLQuery?
    ) throws -> Subscription {
        var events = EventLog.Pending()
        var now = now
        var subscription = try lockUpToDate(id, events: &events, now: &now, config: config, on: db).subscription
        if let assignments = try change(subscription, now) {
            var query: SQLQuery = "UPDATE subscriptions SET "
            query.append(assignments)
            query.append(", updated_at = \(now) WHERE id = \(id) RETURNING \(unsafeSQL: Subscription.columns)")
            subscription = try update(query, event: .subscriptionUpdated, events: &events, on: db)
        }
        try events.append(at: now, on: db)
        return subscription
    }

    /// The assignments that drop a change scheduled at the period end.
    static let dropsPendingUpdate = "pending_plan_id = NULL, pending_quantity = NULL, pending_effective_at = NULL"

    /// A change of plan, quantity or both (at least one; `nil` keeps the current one).
    public struct Change: Sendable {
        public var planID: ID<Plan>?
        public var quantity: Int?
        public var prorate: Bool
        /// Replaces the subscription's tax rates (from this change's invoice on).
        public var taxRateIDs: [ID<TaxRate>]?
        /// Scheduled at the end of the current period instead of now (`time.md`).
        public var atPeriodEnd: Bool
        public init(
            planID: ID<Plan>?, quantity: Int?, prorate: Bool, taxRateIDs: [ID<TaxRate>]? = nil,
            atPeriodEnd: Bool = false
        ) {
            self.planID = planID
            self.quantity = quantity
            self.prorate = prorate
            self.taxRateIDs = taxRateIDs
            self.atPeriodEnd = atPeriodEnd
        }
    }

    /// Moves the subscription to another plan or quantity now. Same interval: the period
    /// stays and, with `prorate`, one invoice credits the unused time of the old plan and
    /// quantity and charges the same time on the new ones. Another interval: the cycle
    /// restarts now with an invoice for the new plan's full period, less the unused old
    /// time when prorating.
    public static func changePlan(
        _ id: ID<Subscription>, _ input: Change, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> Changed {
        var events = EventLog.Pending()
        var now = now
        // The old plan's terms come with the locked subscription.
        let current = try lockUpToDate(id, events: &events, now: &now, config: config, on: db)
        let subscription = current.subscription
        guard subscription.status != .canceled else { throw ended }
        let old = PlanChange.Terms(
            planName: current.planName, unitAmount: current.amount, quantity: subscription.quantity,
            interval: current.interval)
        var new = old
        new.quantity = input.quantity ?? subscription.quantity
        if let planID = input.planID, planID != subscription.planID {
            let plan = try PlanService.get(planID, on: db)
            guard plan.isActive else {
                throw BillingError.conflict("the plan is not active", slug: "plan-inactive")
            }
            guard plan.currency == current.currency else {
                throw BillingError.invalid(
                    field: "plan_id",
                    message: "the subscription is billed in \(current.currency); this plan is in \(plan.currency)")
            }
            new = .init(
                planName: plan.name, unitAmount: plan.amountCents, quantity: new.quantity, interval: plan.interval)
        }
        let planID = input.planID ?? subscription.planID
        guard planID != subscription.planID || new.quantity != subscription.quantity else {
            throw BillingError.invalid(
                field: input.quantity == nil ? "plan_id" : "quantity",
                message: "is what the subscription already has: change the plan, the quantity or both")
        }
        guard Pricing.extended(new.unitAmount, quantity: new.quantity) != nil else { throw tooManySeats }
        if let rates = input.taxRateIDs { try TaxRateService.checkAssignable(rates, on: db) }
        let rateIDs = input.taxRateIDs ?? subscription.taxRateIDs
        if input.atPeriodEnd {
            return try schedule(
                input, planID: planID, quantity: new.quantity, of: subscription, events: &events, now: now, on: db)
        }

        // What was billed is read before the subscription moves to its new period.
        let unused = input.prorate ? try unusedBilled(subscription, at: now, on: db) : 0
        let change = PlanChange(
            from: old, unusedCredit: unused, to: new, prorate: input.prorate, now: now, status: subscription.status,
            anchor: subscription.billingCycleAnchor, periodStart: subscription.currentPeriodStart,
            periodEnd: subscription.currentPeriodEnd, zone: subscription.zone)
        // Its discount applies to the change's invoice as §5 says (the invoice's period starts now).
        let coupons = try CouponService.coupons(subscription.discount.map { [$0.couponID] } ?? [], on: db)
        let discount = change.lines.isEmpty ? nil : subscription.discount(for: now, coupons: coupons)
        // A new plan counts usage afresh: the old one's so far goes on a usage-only draft.
        let newPlan = planID != subscription.planID
        if newPlan { try UsageBilling.closeCurrent([(id, now)], events: &events, now: now, config: config, on: db) }
        // The change, then the invoice it makes, then the balance that invoice moves.
        let updated = try update(
            """
            UPDATE subscriptions SET plan_id = \(planID), quantity = \(new.quantity), \
            tax_rate_ids = \(SQLArray(rateIDs))::uuid[], \
            discount_periods_applied = discount_periods_applied + \(discount == nil ? 0 : 1), \
            billing_cycle_anchor = \(change.anchor), current_period_start = \(change.periodStart), \
            current_period_end = \(change.periodEnd), \(unsafeSQL: dropsPendingUpdate), updated_at = \(now), \
            usage_window_start = CASE WHEN \(newPlan) THEN \(now)::timestamptz ELSE usage_window_start END \
            WHERE id = \(id) \
            RETURNING \(unsafeSQL: Subscription.columns)
            """, event: .subscriptionUpdated, events: &events, on: db)
        var invoice: Invoice?
        if !change.lines.isEmpty {
            var balances = try CustomerService.lockBalances([subscription.customerID], on: db)
            let before = balances
            invoice = try InvoiceWriter.write(
                [
                    .init(
                        subscriptionID: id, customerID: subscription.customerID, reason: .subscriptionUpdate,
                        currency: current.currency, periodStart: now, periodEnd: change.periodEnd,
                        lines: change.lines,
                        rates: try TaxRateService.terms(
                            ofRates: rateIDs.isEmpty ? current.customerRateIDs : rateIDs, on: db), discount: discount)
                ], balances: &balances, events: &events, now: now, config: config, on: db
            ).first
            try CustomerService.saveBalances(
                balances.filter { before[$0.key] != $0.value }, events: &events, now: now, on: db)
        }
        try events.append(at: now, on: db)
        return Changed(subscription: updated, invoice: invoice)
    }

    /// Runs an UPDATE … RETURNING of one subscription and adds its event to the transaction's.
    static func update(
        _ query: SQLQuery, event: Event.Kind, events: inout EventLog.Pending, on db: Connection
    ) throws -> Subscription {
        let subscription = try Subscription(row: try db.query(query)[0])
        events.add(event, subscription)
        return subscription
    }
}
