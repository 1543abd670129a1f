import Common
import Postgres

/// Renewing subscriptions: the one code that brings a subscription up to a given time
/// (trial end, every missed period in order, cancel at period end). The billing run calls
/// it for a batch of subscriptions; every action on one subscription calls it first, under
/// the same locks, so that it acts on the real current period and never on a stale one.
///
/// Lock order, everywhere: customer, then subscription, then invoice, then the
/// invoice-number counter. A transaction takes any of them only in this order (the run
/// takes its customers and subscriptions together with `SKIP LOCKED`, waiting for none),
/// so no two transactions can wait for each other in a cycle.
extension SubscriptionService {
    /// Invoices one transaction writes at most: catch-up of a long-missed subscription is
    /// spread over several transactions (each holding the invoice-number lock briefly),
    /// and the memory a transaction needs stays small whatever is due.
    public static let invoicesPerTransaction = 500

    /// A locked subscription with the terms of its plan that renewing needs.
    struct Due {
        var subscription: Subscription
        var amount: Int64
        var interval: BillingInterval
        var planName: String
        var currency: String
        /// Its customer's tax rates (its invoices', when it has none of its own).
        var customerRateIDs: [ID<TaxRate>]
        /// The terms of the plan of its pending update, if it has one.
        var pendingTerms: (amount: Int64, interval: BillingInterval, planName: String)?
        /// Whether its plan (and its pending update's) charges usage (`usage.md`).
        var chargesUsage: Bool
        var pendingChargesUsage: Bool

        /// The subscription's columns, then its plan's, its customer's rates and its pending
        /// plan's, from `Due.tables`.
        static let columns = """
            \(Subscription.qualifiedColumns), p.amount_cents, p.interval, p.interval_count, p.name, p.currency, \
            (SELECT tax_rate_ids FROM customers WHERE id = s.customer_id), pp.amount_cents, pp.interval, \
            pp.interval_count, pp.name, p.charged_meter_ids <> '{}', coalesce(pp.charged_meter_ids <> '{}', false)
            """

        /// The subscription `s`, its plan `p` and its pending update's plan `pp`.
        static let tables =
            "subscriptions s JOIN plans p ON p.id = s.plan_id LEFT JOIN plans pp ON pp.id = s.pending_plan_id"

        init(row: Row) throws {
            var r = RowReader(row)
            subscription = try Subscription(&r)
            amount = try r.int64()
            interval = BillingInterval(unit: try r.value(), count: try r.int())
            planName = try r.string()
            currency = try r.string()
            customerRateIDs = try r.ids()
            // Each read moves to the next column: all four are read before any is tested.
            let (pendingAmount, pendingUnit, pendingCount, pendingName):
                (Int64?, BillingInterval.Unit?, Int?, String?) =
                    (r.optionalInt64(), r.optionalValue(), r.optionalInt(), r.optionalString())
            if let amount = pendingAmount, let unit = pendingUnit, let count = pendingCount, let name = pendingName {
                pendingTerms = (amount, BillingInterval(unit: unit, count: count), name)
            }
            chargesUsage = try r.bool()
            pendingChargesUsage = try r.bool()
        }

        /// Moves to the pending update's plan and quantity when the renewal up to `asOf`
        /// reaches it: at the end of the period it was scheduled in, before the next period
        /// is invoiced, so that one is on the new terms with no proration. A change of
        /// interval anchors the periods there. Returns whether it applied one.
        mutating func applyPendingUpdate(asOf: Timestamp) -> Bool {
            guard let pending = subscription.pendingUpdate, let terms = pendingTerms,
                subscription.status != .canceled, pending.effectiveAt <= asOf,
                pending.effectiveAt <= subscription.currentPeriodEnd
            else { return false }
            if terms.interval != interval { subscription.billingCycleAnchor = pending.effectiveAt }
            subscription.planID = pending.planID
            subscription.quantity = pending.quantity
            subscription.pendingUpdate = nil
            (amount, interval, planName) = terms
            chargesUsage = pendingChargesUsage
            pendingTerms = nil
            return true
        }

        /// The rates its invoices are taxed with: its own, else its customer's.
        var rateIDs: [ID<TaxRate>] {
            subscription.taxRateIDs.isEmpty ? customerRateIDs : subscription.taxRateIDs
        }
    }

    /// What one call of `renew` did.
    struct RenewalTally {
        var invoicesCreated = 0
        /// Subscriptions whose catch-up finished here with at least one invoice: one that
        /// needed several transactions is counted once, by the one that finished it.
        var subscriptionsRenewed = 0
        var trialsEnded = 0
        var subscriptionsCanceled = 0
        /// Subscriptions left with periods still due (the invoice budget ran out).
        var incomplete = 0
        var updated: [Subscription] = []
    }

    /// Renews locked subscriptions up to `asOf`, writing at most `budget` invoices; those
    /// that do not fit keep their state and are renewed by the next call.
    static func renew(
        _ due: [Due], asOf: Timestamp, budget: Int, events: inout EventLog.Pending, now: Timestamp,
        config: BillingConfig, on db: Connection
    ) throws -> RenewalTally {
        var tally = RenewalTally()
        var remaining = budget
        // The rates of the whole batch in one statement (none when no one is taxed).
        let terms = try TaxRateService.terms(of: due.flatMap { $0.rateIDs.map(\.uuid) }, on: db)
        let coupons = try CouponService.coupons(due.compactMap { $0.subscription.discount?.couponID }, on: db)
        var drafts: [InvoiceWriter.Draft] = []
        // Invoices of periods that begin while collection is paused (`time.md`): kept as
        // drafts, or voided or marked uncollectible as soon as they are made.
        var keptDrafts: [InvoiceWriter.Draft] = []
        var pausedBehaviors: [PauseCollection.Behavior?] = []
        var changed: [(Subscription, Renewal)] = []
        var applied: [Subscription] = []
        // Cycle invoices that bill a closed usage window: drafts until its grace has passed.
        var usageDrafts: [InvoiceWriter.Draft] = []
        var usageWindows: [UsageBilling.Window] = []
        var ended: [(ID<Subscription>, Timestamp)] = []
        for var item in due {
            // The window open now is on the plan of now, even when a pending update applies.
            var windowPlan = (id: item.subscription.planID, chargesUsage: item.chargesUsage)
            var windowStart = item.subscription.usageWindowStart
            if item.applyPendingUpdate(asOf: asOf) { applied.append(item.subscription) }
            let subscription = item.subscription
            let renewal = Renewal(
                status: subscription.status, anchor: subscription.billingCycleAnchor, interval: item.interval,
                zone: subscription.zone,
                trialEnd: subscription.trialEnd, currentPeriodStart: subscription.currentPeriodStart,
                currentPeriodEnd: subscription.currentPeriodEnd, cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
                asOf: asOf, maximumPeriods: remaining)
            if !renewal.isComplete { tally.incomplete += 1 }
            guard renewal.changesSomething else { continue }
            remaining -= renewal.invoices.count
            var discounted = subscription
            if let end = renewal.endedAt { ended.append((subscription.id, end)) }
            for period in renewal.invoices {
                let usage =
                    windowPlan.chargesUsage && windowStart < period.start
                    ? UsageBilling.Window(
                        customerID: subscription.customerID, subscriptionID: subscription.id, start: windowStart,
                        end: period.start, planID: windowPlan.id, invoiceID: nil,
                        closesAt: period.start.adding(seconds: config.usageGraceSeconds)) : nil
                windowStart = period.start
                windowPlan = (subscription.planID, item.chargesUsage)
                // Its discount is decided when it is finalized, with its usage lines.
                let discount = usage == nil ? discounted.discount(for: period.start, coupons: coupons) : nil
                if discount != nil { discounted.discount?.periodsApplied += 1 }
                var draft = InvoiceWriter.Draft(
                    subscriptionID: subscription.id, customerID: subscription.customerID,
                    reason: .subscriptionCycle, currency: item.currency, periodStart: period.start,
                    periodEnd: period.end,
                    lines: [
                        subscription.schedule(item.interval).line(
                            for: period, planName: item.planName, unitAmount: item.amount,
                            quantity: subscription.quantity)
                    ], rates: item.rateIDs.compactMap { terms[$0.uuid] }, discount: discount)
                let paused = subscription.pauseCollection?.behavior(forPeriodStarting: period.start)
                if let usage {
                    draft.finalizesAt = usage.closesAt
                    usageDrafts.append(draft)
                    usageWindows.append(usage)
                } else if paused == .keepAsDraft {
                    keptDrafts.append(draft)
                } else {
                    drafts.append(draft)
                    pausedBehaviors.append(paused)
                }
            }
            changed.append((discounted, renewal))
        }
        try applyPendingUpdates(applied, events: &events, now: now, on: db)
        tally.updated = try saveRenewals(changed, events: &events, now: now, on: db)
        if !drafts.isEmpty {
            // Written before the invoice-number lock that `InvoiceWriter` takes, which every
            // transaction making invoices waits for: the less it covers, the better.
            try events.flush(at: now, on: db)
            var balances = try CustomerService.lockBalances(Array(Set(drafts.map(\.customerID))), on: db)
            let before = balances
            let invoices = try InvoiceWriter.write(
                drafts, balances: &balances, events: &events, now: now, config: config, on: db)
            tally.invoicesCreated = invoices.count
            try CustomerService.saveBalances(
                balances.filter { before[$0.key] != $0.value }, events: &events, now: now, on: db)
            try InvoiceService.settlePaused(
                Array(zip(invoices, pausedBehaviors)), events: &events, now: now, on: db)
        }
        let written = try InvoiceWriter.writeDrafts(keptDrafts + usageDrafts, events: &events, now: now, on: db)
        tally.invoicesCreated += written.count
        for (index, invoice) in written.dropFirst(keptDrafts.count).enumerated() {
            usageWindows[index].invoiceID = invoice.id
        }
        try UsageBilling.record(usageWindows, on: db)
        try UsageBilling.closeCurrent(ended, events: &events, now: now, config: config, on: db)
        for (_, renewal) in changed {
            if renewal.trialEnded { tally.trialsEnded += 1 }
            if renewal.endedAt != nil { tally.subscriptionsCanceled += 1 }
            if !renewal.invoices.isEmpty && renewal.isComplete { tally.subscriptionsRenewed += 1 }
        }
        return tally
    }

    /// Locks the subscription (after its customer, in the lock order) and brings it up to
    /// `now` with the billing run's own code, in as many rounds of `invoicesPerTransaction`
    /// as it needs; the catch-up's events come first in `events`, before the action's.
    /// Returns the subscription as it now stands, with its plan's terms. Every action on a
    /// subscription starts here.
    ///
    /// `now` becomes the time of the subscription's customer: its test clock's, if it is on one.
    static func lockUpToDate(
        _ id: ID<Subscription>, events: inout EventLog.Pending, now: inout Timestamp, config: BillingConfig,
        on db: Connection
    ) throws -> Due {
        // The owner never changes, so the customer is found through the subscription and
        // locked in the same statement.
        guard
            let owner = try db.query(
                """
                SELECT test_clock_id FROM customers WHERE id = (SELECT customer_id FROM subscriptions WHERE id = \(id)) \
                FOR UPDATE
                """
            ).first
        else { throw BillingError.notFound("no such subscription") }
        var r = RowReader(owner)
        now = try TestClockService.now(onClock: r.optionalID(), else: now, events: &events, on: db)
        while true {
            let rows = try db.query(
                """
                SELECT \(unsafeSQL: Due.columns) FROM \(unsafeSQL: Due.tables) \
                WHERE s.id = \(id) FOR UPDATE OF s
                """)
            guard let row = rows.first else { throw BillingError.notFound("no such subscription") }
            var due = try Due(row: row)
            let tally = try renew(
                [due], asOf: now, budget: invoicesPerTransaction, events: &events, now: now, config: config, on: db)
            guard tally.incomplete > 0 else {
                if let renewed = tally.updated.first { due.subscription = renewed }
                return due
            }
        }
    }

    // MARK: What the billing run writes

    /// Stores the plan, quantity and anchor of subscriptions whose pending update was
    /// applied, the update gone, each with `subscription.updated`.
    static func applyPendingUpdates(
        _ subscriptions: [Subscription], events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws {
        guard !subscriptions.isEmpty else { return }
        let rows = try db.query(
            """
            UPDATE subscriptions s SET plan_id = v.plan_id, quantity = v.quantity, billing_cycle_anchor = v.anchor, \
            \(unsafeSQL: dropsPendingUpdate), updated_at = \(now) \
            FROM unnest(\(SQLArray(subscriptions) { $0.id })::uuid[], \(SQLArray(subscriptions) { $0.planID })::uuid[], \
            \(SQLArray(subscriptions) { $0.quantity })::int[], \
            \(SQLArray(subscriptions) { $0.billingCycleAnchor })::timestamptz[]) AS v(id, plan_id, quantity, anchor) \
            WHERE s.id = v.id RETURNING \(unsafeSQL: Subscription.qualifiedColumns)
            """)
        events.add(.subscriptionUpdated, each: try rows.rows.map(Subscription.init(row:)))
    }

    /// Stores what was decided for each locked subscription, with their events; returns
    /// the subscriptions as stored.
    static func saveRenewals(
        _ renewals: [(Subscription, Renewal)], events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws -> [Subscription] {
        guard !renewals.isEmpty else { return [] }
        let rows = try db.query(
            """
            UPDATE subscriptions s SET status = v.status, current_period_start = v.period_start, \
            current_period_end = v.period_end, ended_at = v.ended_at, \
            canceled_at = CASE WHEN v.ended_at IS NULL THEN s.canceled_at ELSE coalesce(s.canceled_at, v.ended_at) END, \
            discount_periods_applied = v.discounted, updated_at = \(now), \
            usage_window_start = CASE WHEN v.period_start = s.current_period_start THEN s.usage_window_start END \
            FROM unnest(\(SQLArray(renewals) { $0.0.id })::uuid[], \(SQLArray(renewals) { $0.1.status.rawValue })::text[], \
            \(SQLArray(renewals) { $0.1.currentPeriodStart })::timestamptz[], \
            \(SQLArray(renewals) { $0.1.currentPeriodEnd })::timestamptz[], \
            \(SQLArray(renewals) { $0.1.endedAt })::timestamptz[], \
            \(SQLArray(renewals) { $0.0.discount?.periodsApplied ?? 0 })::int[]) \
            AS v(id, status, period_start, period_end, ended_at, discounted) \
            WHERE s.id = v.id RETURNING \(unsafeSQL: Subscription.qualifiedColumns)
            """
        ).rows.map(Subscription.init(row:))
        var byID: [ID<Subscription>: Renewal] = [:]
        for (subscription, renewal) in renewals { byID[subscription.id] = renewal }
        for subscription in rows {
            guard let renewal = byID[subscription.id] else { continue }
            if renewal.trialEnded { events.add(.subscriptionTrialEnded, subscription) }
            if renewal.endedAt != nil {
                events.add(.subscriptionCanceled, subscription)
            } else if !renewal.trialEnded {
                events.add(.subscriptionUpdated, subscription)
            }
        }
        return rows
    }

    static func markPastDue(
        _ ids: [ID<Subscription>], events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws {
        guard !ids.isEmpty else { return }
        let rows = try db.query(
            """
            UPDATE subscriptions SET status = 'past_due', updated_at = \(now) \
            WHERE id = ANY(\(SQLArray(ids))::uuid[]) RETURNING \(unsafeSQL: Subscription.columns)
            """)
        events.add(.subscriptionUpdated, each: try rows.rows.map(Subscription.init(row:)))
    }

    static func cancelForNonpayment(
        _ ids: [ID<Subscription>], at time: Timestamp, events: inout EventLog.Pending, now: Timestamp,
        config: BillingConfig, on db: Connection
    ) throws {
        guard !ids.isEmpty else { return }
        let rows = try db.query(
            """
            UPDATE subscriptions SET status = 'canceled', canceled_at = \(time), ended_at = \(time), \
            cancellation_reason = 'nonpayment', cancel_at_period_end = false, updated_at = \(now) \
            WHERE id = ANY(\(SQLArray(ids))::uuid[]) RETURNING \(unsafeSQL: Subscription.columns)
            """)
        events.add(.subscriptionCanceled, each: try rows.rows.map(Subscription.init(row:)))
        try UsageBilling.closeCurrent(ids.map { ($0, time) }, events: &events, now: now, config: config, on: db)
    }

    /// A `past_due` subscription with no open invoice left becomes `active` again.
    static func reactivateIfSettled(
        _ id: ID<Subscription>, events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws {
        let rows = try db.query(
            """
            UPDATE subscriptions SET status = 'active', updated_at = \(now) \
            WHERE id = \(id) AND status = 'past_due' \
            AND NOT EXISTS (SELECT 1 FROM invoices WHERE subscription_id = \(id) AND status = 'open') \
            RETURNING \(unsafeSQL: Subscription.columns)
            """)
        if let row = rows.first { events.add(.subscriptionUpdated, try Subscription(row: row)) }
    }
}

extension Subscription {
    /// Its discount for an invoice of the period starting `periodStart`, when §5 applies it
    /// there (`coupons` holds its coupon).
    func discount(for periodStart: Timestamp, coupons: [ID<Coupon>: Coupon]) -> (
        coupon: Coupon, terms: DiscountTerms
    )? {
        guard let discount, let coupon = coupons[discount.couponID] else { return nil }
        guard discount.applies(to: periodStart, duration: coupon.duration, appliedSoFar: discount.periodsApplied)
        else { return nil }
        return (coupon, coupon.terms)
    }
}
