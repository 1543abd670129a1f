import Common
import Postgres

/// `POST` and `DELETE /subscriptions/{id}/discount` (`invoicing.md` §5). A redemption is
/// counted when the discount is applied and never given back: removing or replacing a
/// discount releases nothing.
extension SubscriptionService {
    /// Gives the subscription the coupon `code` from now, replacing its discount.
    public static func applyDiscount(
        _ id: ID<Subscription>, coupon code: String, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> Subscription {
        var events = EventLog.Pending()
        var now = now
        let current = try lockUpToDate(id, events: &events, now: &now, config: config, on: db)
        guard current.subscription.status != .canceled else { throw ended }
        let coupon = try CouponService.redeem(
            try CouponService.redeemable(code: code, currency: current.currency, now: now, on: db), now: now, on: db)
        let end = coupon.durationInPeriods.map {
            SubscriptionDiscount.end(
                start: now, periods: $0, anchor: current.subscription.billingCycleAnchor, interval: current.interval,
                zone: current.subscription.zone)
        }
        events.add(.couponUpdated, coupon)
        let updated = try update(
            """
            UPDATE subscriptions SET discount_coupon_id = \(coupon.id), discount_coupon_code = \(coupon.code), \
            discount_start = \(now), discount_end = \(end), discount_periods_applied = 0, updated_at = \(now) \
            WHERE id = \(id) RETURNING \(unsafeSQL: Subscription.columns)
            """, event: .subscriptionUpdated, events: &events, on: db)
        try events.append(at: now, on: db)
        return updated
    }

    /// Removes the subscription's discount (if it has none, nothing changes).
    public static func removeDiscount(
        _ id: ID<Subscription>, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> Subscription {
        try act(on: id, now: now, config: config, on: db) { subscription, _ in
            subscription.discount == nil
                ? nil
                : """
                discount_coupon_id = NULL, discount_coupon_code = NULL, discount_start = NULL, discount_end = NULL, \
                discount_periods_applied = 0
                """
        }
    }
}
