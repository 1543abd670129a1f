import Common
import Postgres

/// A price and a billing interval. Price, currency and interval never change once
/// created; only the name and whether new subscriptions may use it.
public struct Plan: Equatable, Sendable {
    public var id: ID<Plan>
    public var code: String
    public var name: String
    public var amountCents: Int64
    public var currency: String
    public var interval: BillingInterval
    public var trialDays: Int
    public var isActive: Bool
    public var createdAt: Timestamp

    static let columns =
        "id, code, name, amount_cents, currency, interval, interval_count, trial_days, is_active, created_at"

    init(row: Row) {
        id = row.required(row.id(0), column: 0)
        code = row.required(row.string(1), column: 1)
        name = row.required(row.string(2), column: 2)
        amountCents = row.required(row.int64(3), column: 3)
        currency = row.required(row.string(4), column: 4)
        interval = BillingInterval(
            unit: row.required(row.string(5).flatMap(BillingInterval.Unit.init(rawValue:)), column: 5),
            count: row.required(row.int(6), column: 6))
        trialDays = row.required(row.int(7), column: 7)
        isActive = row.required(row.bool(8), column: 8)
        createdAt = row.required(row.timestamp(9), column: 9)
    }
}

extension Plan {
    /// The description of a line that charges a plan's period, written once for every
    /// invoice that does.
    static func lineDescription(_ name: String, _ interval: BillingInterval) -> String {
        "\(name) (every \(interval.phrase))"
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
        json.field("is_active", isActive)
        json.field("created_at", createdAt)
        json.endObject()
    }
}
