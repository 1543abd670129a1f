/// How often a plan bills: `count` × `unit`, at most one year in total.
public struct BillingInterval: Equatable, Sendable {
    public enum Unit: String, CaseIterable, Sendable {
        case day, week, month, year
    }

    public var unit: Unit
    public var count: Int

    public init(unit: Unit, count: Int) {
        self.unit = unit
        self.count = count
    }

    /// The largest count for each unit that keeps the interval within one year.
    public static func maximumCount(for unit: Unit) -> Int {
        switch unit {
        case .day: return 365
        case .week: return 52
        case .month: return 12
        case .year: return 1
        }
    }

    /// Whether the interval is 1…365 units and no longer than a year.
    public var isValid: Bool { count >= 1 && count <= Self.maximumCount(for: unit) }

    /// "month", "3 months": for invoice line descriptions.
    public var phrase: String { count == 1 ? unit.rawValue : "\(count) \(unit.rawValue)s" }
}
