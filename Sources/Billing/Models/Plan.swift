import Common
import Postgres

/// A price and a billing interval. Price, currency and interval never change once
/// created; only the name and whether new subscriptions may use it.
public struct Plan: Equatable, Sendable, RowDecodable {
    public var id: ID<Plan>
    public var code: String
    public var name: String
    public var amountCents: Int64
    public var currency: String
    public var interval: BillingInterval
    public var trialDays: Int
    /// Anchored on each subscription's start, or on the calendar (`time.md`).
    public var billingCycle: BillingCycle
    public var isActive: Bool
    public var createdAt: Timestamp
    /// Usage it bills in arrears (`usage.md`), immutable like the price.
    public var charges: [UsageCharge]

    static let columns = """
        id, code, name, amount_cents, currency, interval, interval_count, trial_days, billing_cycle, is_active, \
        created_at, charges
        """

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        code = try r.string()
        name = try r.string()
        amountCents = try r.int64()
        currency = try r.string()
        interval = BillingInterval(unit: try r.value(), count: try r.int())
        trialDays = try r.int()
        billingCycle = try r.value()
        isActive = try r.bool()
        createdAt = try r.timestamp()
        charges = try UsageCharge.decodeStored(try r.string())
    }
}

extension Plan: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("code", code)
        json.field("name", name)
        json.field("amount_cents", amountCents)
        json.field("currency", currency)
        json.field("interval", interval.unit.rawValue)
        json.field("interval_count", interval.count)
        json.field("trial_days", trialDays)
        json.field("billing_cycle", billingCycle.rawValue)
        json.field("is_active", isActive)
        json.field("charges", charges)
        json.field("created_at", createdAt)
        json.endObject()
    }
}
