import Common
import Postgres

/// Changes scheduled at the period end (`time.md`): `change-plan` with `at_period_end`
/// stores a pending update, which the billing run applies at the boundary
/// (`Due.applyPendingUpdate`), exactly once, in the transaction that renews the
/// subscription. A later change replaces it; a cancel drops it; so can its DELETE.
extension SubscriptionService {
    /// Stores the change as the subscription's pending update, effective at its current
    /// period's end; nothing is invoiced now.
    static func schedule(
        _ input: Change, planID: ID<Plan>, quantity: Int, of subscription: Subscription,
        events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws -> Changed {
        guard input.taxRateIDs == nil else {
            throw BillingError.invalid(
                field: "tax_rate_ids", message: "cannot be scheduled: change them now, without at_period_end")
        }
        guard !subscription.cancelAtPeriodEnd else {
            throw BillingError.conflict(
                "the subscription ends at the period end: resume it before scheduling a change",
                slug: "subscription-ending")
        }
        let updated = try update(
            """
            UPDATE subscriptions SET pending_plan_id = \(planID), pending_quantity = \(quantity), \
            pending_effective_at = current_period_end, updated_at = \(now) WHERE id = \(subscription.id) \
            RETURNING \(unsafeSQL: Subscription.columns)
            """, event: .subscriptionUpdated, events: &events, on: db)
        try events.append(at: now, on: db)
        return Changed(subscription: updated, invoice: nil)
    }

    /// `DELETE /subscriptions/{id}/pending-update`: drops the scheduled change (nothing
    /// changes when there is none).
    public static func removePendingUpdate(
        _ id: ID<Subscription>, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> Subscription {
        try act(on: id, now: now, config: config, on: db) { subscription, _ in
            subscription.pendingUpdate == nil ? nil : SQLQuery(unsafeSQL: dropsPendingUpdate)
        }
    }
}
