import Common

/// What dunning does to a live subscription whose oldest open invoice was due at
/// `oldestDue`: past its due date it is `past_due`; past the grace period it is canceled.
public enum Dunning: Equatable, Sendable {
    case none
    case markPastDue
    case cancelForNonpayment

    public static func decide(
        status: Subscription.Status, oldestDue: Timestamp, asOf: Timestamp, graceDays: Int
    ) -> Dunning {
        guard status == .active || status == .pastDue, oldestDue <= asOf else { return .none }
        if oldestDue.adding(seconds: Int64(graceDays) * 86_400) <= asOf { return .cancelForNonpayment }
        return status == .active ? .markPastDue : .none
    }
}
