import Common
import Postgres

/// A coupon (`invoicing.md` §5): a share or an amount off a subscription's lines, for its
/// first invoice, some periods, or for ever.
public struct Coupon: Equatable, Sendable, RowDecodable {
    public enum Duration: String, CaseIterable, Sendable {
        case once, repeating, forever
    }

    public var id: ID<Coupon>
    public var code: String
    public var name: String
    public var percentOff: Percentage?
    public var amountOffCents: Int64?
    public var currency: String?
    public var duration: Duration
    public var durationInPeriods: Int?
    public var maxRedemptions: Int?
    public var timesRedeemed: Int
    public var redeemBy: Timestamp?
    public var isActive: Bool
    public var createdAt: Timestamp

    static let columns = """
        id, code, name, percent_off::text, amount_off_cents, currency, duration, duration_in_periods, \
        max_redemptions, times_redeemed, redeem_by, is_active, created_at
        """

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        code = try r.string()
        name = try r.string()
        percentOff = try r.optionalString().map { text in
            guard let value = Percentage(parsing: text, maxDecimals: 4, in: 1...1_000_000) else {
                throw PostgresError(kind: .decoding, detail: "not a percentage: \(text)")
            }
            return value
        }
        amountOffCents = r.optionalInt64()
        currency = r.optionalString()
        duration = try r.value()
        durationInPeriods = r.optionalInt()
        maxRedemptions = r.optionalInt()
        timesRedeemed = try r.int()
        redeemBy = r.optionalTimestamp()
        isActive = try r.bool()
        createdAt = try r.timestamp()
    }

    /// What it takes off, as the totals apply it.
    public var terms: DiscountTerms { percentOff.map { .percentOff($0) } ?? .amountOff(amountOffCents ?? 0) }
}

extension Coupon: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("code", code)
        json.field("name", name)
        json.field("percent_off", percentOff?.description)
        json.field("amount_off_cents", amountOffCents)
        json.field("currency", currency)
        json.field("duration", duration.rawValue)
        json.field("duration_in_periods", durationInPeriods.map { Int64($0) })
        json.field("max_redemptions", maxRedemptions.map { Int64($0) })
        json.field("times_redeemed", timesRedeemed)
        json.field("redeem_by", redeemBy)
        json.field("is_active", isActive)
        json.field("created_at", createdAt)
        json.endObject()
    }
}

/// A subscription's discount: which coupon, from when, until when (repeating only), and how
/// many invoices it has discounted.
public struct SubscriptionDiscount: Equatable, Sendable {
    public var couponID: ID<Coupon>
    public var couponCode: String
    public var start: Timestamp
    public var end: Timestamp?
    public var periodsApplied: Int

    /// Whether an invoice for the period starting `periodStart`, finalized at or after the
    /// discount's start, is discounted (§5): `once` the first such invoice, `repeating` those
    /// whose period starts before `end`, `forever` every one.
    public func applies(to periodStart: Timestamp, duration: Coupon.Duration, appliedSoFar: Int) -> Bool {
        switch duration {
        case .once: return appliedSoFar == 0
        case .repeating: return periodStart >= start && end.map { periodStart < $0 } ?? false
        case .forever: return true
        }
    }

    /// `end` of a repeating discount: the start of the first period (of the subscription's
    /// calendar) at or after `periods` intervals from `start`.
    public static func end(
        start: Timestamp, periods: Int, anchor: Timestamp, interval: BillingInterval, zone: Zone = .utc
    ) -> Timestamp {
        let reach = BillingSchedule(anchor: start, interval: interval, zone: zone).period(periods).start
        let period = BillingSchedule(anchor: anchor, interval: interval, zone: zone).period(containing: reach)
        return period.start == reach ? reach : period.end
    }
}

extension SubscriptionDiscount: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("coupon_id", couponID)
        json.field("coupon_code", couponCode)
        json.field("start", start)
        json.field("end", end)
        json.field("periods_applied", periodsApplied)
        json.endObject()
    }
}

/// A discount as an invoice shows it (`discounts`).
public struct AppliedDiscount: Equatable, Sendable, JSONWritable {
    public var couponID: ID<Coupon>
    public var couponCode: String
    public var amount: Int64

    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("coupon_id", couponID)
        json.field("coupon_code", couponCode)
        json.field("amount_cents", amount)
        json.endObject()
    }
}
