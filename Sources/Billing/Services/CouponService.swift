import Common
import Postgres

/// Coupons (`invoicing.md` §5) and their redemption. Redeeming raises `times_redeemed`
/// under the coupon's row lock with the limit in the same UPDATE (and a CHECK behind it):
/// of any number of concurrent redemptions, exactly as many as the limit allows succeed.
/// The coupon is locked after the customer and the subscription, before the invoice-number
/// counter: the lock order.
public enum CouponService {
    public struct Create: Sendable {
        public var code: String
        public var name: String
        public var percentOff: Percentage?
        public var amountOff: (cents: Int64, currency: String)?
        public var duration: Coupon.Duration
        public var durationInPeriods: Int?
        public var maxRedemptions: Int?
        public var redeemBy: Timestamp?
        public init(
            code: String, name: String, percentOff: Percentage?, amountOff: (cents: Int64, currency: String)?,
            duration: Coupon.Duration, durationInPeriods: Int?, maxRedemptions: Int?, redeemBy: Timestamp?
        ) {
            self.code = code
            self.name = name
            self.percentOff = percentOff
            self.amountOff = amountOff
            self.duration = duration
            self.durationInPeriods = durationInPeriods
            self.maxRedemptions = maxRedemptions
            self.redeemBy = redeemBy
        }
    }

    public static func create(_ input: Create, now: Timestamp, on db: Connection) throws -> Coupon {
        if let redeemBy = input.redeemBy, redeemBy <= now {
            throw BillingError.invalid(field: "redeem_by", message: "must be in the future")
        }
        let coupon = try mapUniqueViolation(
            to: .conflict("a coupon with this code already exists", slug: "coupon-code-taken")
        ) {
            try Coupon(
                row: try db.query(
                    """
                    INSERT INTO coupons (id, code, name, percent_off, amount_off_cents, currency, duration, \
                    duration_in_periods, max_redemptions, redeem_by, created_at) \
                    VALUES (\(ID<Coupon>.generate()), \(input.code), \(input.name), \
                    \(input.percentOff?.description)::numeric, \(input.amountOff?.cents), \(input.amountOff?.currency), \
                    \(input.duration.rawValue), \(input.durationInPeriods), \(input.maxRedemptions), \(input.redeemBy), \
                    \(now)) RETURNING \(unsafeSQL: Coupon.columns)
                    """)[0])
        }
        try EventLog.append(.couponCreated, coupon, at: now, on: db)
        return coupon
    }

    public static func get(_ id: ID<Coupon>, on db: Connection) throws -> Coupon {
        guard let row = try db.query("SELECT \(unsafeSQL: Coupon.columns) FROM coupons WHERE id = \(id)").first else {
            throw BillingError.notFound("no such coupon")
        }
        return try Coupon(row: row)
    }

    public static func list(isActive: Bool?, page: PageRequest, on db: Connection) throws -> Page<Coupon> {
        var query = ListQuery(table: "coupons", columns: Coupon.columns)
        query.filter("is_active", isActive)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Coupon.init(row:))
    }

    public static func update(
        _ id: ID<Coupon>, name: String?, isActive: Bool?, now: Timestamp, on db: Connection
    ) throws -> Coupon {
        guard
            let row = try db.query(
                """
                UPDATE coupons SET name = coalesce(\(name), name), is_active = coalesce(\(isActive), is_active) \
                WHERE id = \(id) RETURNING \(unsafeSQL: Coupon.columns)
                """
            ).first
        else { throw BillingError.notFound("no such coupon") }
        let coupon = try Coupon(row: row)
        try EventLog.append(.couponUpdated, coupon, at: now, on: db)
        return coupon
    }

    /// The coupon `code`, if a subscription billed in `currency` may redeem it now: 404 for
    /// an unknown code, 422 for a coupon in another currency, 409 when inactive or past
    /// `redeem_by`. Nothing is locked or counted yet (`redeem` does, and checks again).
    static func redeemable(code: String, currency: String, now: Timestamp, on db: Connection) throws -> Coupon {
        guard let row = try db.query("SELECT \(unsafeSQL: Coupon.columns) FROM coupons WHERE code = \(code)").first
        else { throw BillingError.notFound("no such coupon") }
        let coupon = try Coupon(row: row)
        if let couponCurrency = coupon.currency, couponCurrency != currency {
            throw BillingError.invalid(
                field: "coupon", message: "is in \(couponCurrency); the subscription is billed in \(currency)")
        }
        guard coupon.isActive else { throw BillingError.conflict("the coupon is not active", slug: "coupon-inactive") }
        if let redeemBy = coupon.redeemBy, redeemBy <= now {
            throw BillingError.conflict("the coupon could be redeemed until \(redeemBy)", slug: "coupon-expired")
        }
        return coupon
    }

    /// Counts a redemption of `coupon`, checking again that it is active, before
    /// `redeem_by` and below its limit (409 otherwise: the caller's transaction rolls back,
    /// so a refused request counts nothing). The coupon's row stays locked until commit:
    /// callers redeem last, after the invoice-number counter, so that a popular coupon
    /// holds up no more than the counter already does (measured: POST /subscriptions with
    /// one coupon at 0.72 of the plain rate when it was locked first).
    static func redeem(_ coupon: Coupon, now: Timestamp, on db: Connection) throws -> Coupon {
        guard
            let redeemed = try db.query(
                """
                UPDATE coupons SET times_redeemed = times_redeemed + 1 WHERE id = \(coupon.id) AND is_active \
                AND (redeem_by IS NULL OR redeem_by > \(now)) \
                AND (max_redemptions IS NULL OR times_redeemed < max_redemptions) \
                RETURNING \(unsafeSQL: Coupon.columns)
                """
            ).first
        else {
            throw BillingError.conflict("the coupon has been redeemed as often as it may be", slug: "coupon-exhausted")
        }
        return try Coupon(row: redeemed)
    }

    /// The coupons `ids`, by id (none: no statement).
    static func coupons(_ ids: [ID<Coupon>], on db: Connection) throws -> [ID<Coupon>: Coupon] {
        guard !ids.isEmpty else { return [:] }
        var coupons: [ID<Coupon>: Coupon] = [:]
        for coupon in try db.query(
            "SELECT \(unsafeSQL: Coupon.columns) FROM coupons WHERE id = ANY(\(SQLArray(Array(Set(ids))))::uuid[])"
        ).rows.map(Coupon.init(row:)) {
            coupons[coupon.id] = coupon
        }
        return coupons
    }
}
