import Common
import Postgres

/// Where a usage event counts (`usage.md`): the window of its customer's live subscription
/// it falls in, or a closed window whose draft invoice is still within its grace. Read
/// under a share lock of the customers' subscriptions (in id order): a window is closed,
/// billed or moved only under its subscription's row lock for update, so renewals and the
/// finalization of windows come wholly before or after a batch of events.
struct UsageWindows {
    enum Placement: Equatable {
        /// Counted in the totals of this subscription's window starting at `start`, which
        /// `plan`'s charges price.
        case counted(ID<Subscription>, start: Timestamp, plan: ID<Plan>)
        /// Stored, billed by nothing: no subscription of the customer charges the meter then.
        case notBilled
        /// Refused: the period it falls in is invoiced already.
        case closed(String)
    }

    struct Live {
        var subscription: ID<Subscription>
        var windowStart: Timestamp
        var periodEnd: Timestamp
        var endsAtPeriodEnd: Bool
        var plan: ID<Plan>
        var meters: Set<ID<Meter>>
    }

    struct Closed {
        var subscription: ID<Subscription>
        var start: Timestamp
        var end: Timestamp
        var plan: ID<Plan>
        var meters: Set<ID<Meter>>
    }

    var live: [ID<Customer>: Live] = [:]
    var closed: [ID<Customer>: [Closed]] = [:]

    static func open(for customers: [ID<Customer>], on db: Connection) throws -> UsageWindows {
        var windows = UsageWindows()
        let ids = SQLArray(customers)
        for row in try db.query(
            """
            SELECT s.id, s.customer_id, coalesce(s.usage_window_start, s.current_period_start), s.current_period_end, \
            s.cancel_at_period_end, s.plan_id, p.charged_meter_ids FROM subscriptions s JOIN plans p ON p.id = s.plan_id \
            WHERE s.customer_id = ANY(\(ids)::uuid[]) AND s.status <> 'canceled' ORDER BY s.id FOR SHARE OF s
            """
        ).rows {
            var r = RowReader(row)
            let subscription: ID<Subscription> = try r.id()
            let customer: ID<Customer> = try r.id()
            windows.live[customer] = Live(
                subscription: subscription, windowStart: try r.timestamp(), periodEnd: try r.timestamp(),
                endsAtPeriodEnd: try r.bool(), plan: try r.id(), meters: Set(try r.ids()))
        }
        for row in try db.query(
            """
            SELECT w.subscription_id, w.customer_id, w.window_start, w.window_end, w.plan_id, p.charged_meter_ids \
            FROM usage_windows w JOIN plans p ON p.id = w.plan_id \
            WHERE w.customer_id = ANY(\(ids)::uuid[]) AND w.billed_at IS NULL
            """
        ).rows {
            var r = RowReader(row)
            let subscription: ID<Subscription> = try r.id()
            let customer: ID<Customer> = try r.id()
            windows.closed[customer, default: []].append(
                Closed(
                    subscription: subscription, start: try r.timestamp(), end: try r.timestamp(), plan: try r.id(),
                    meters: Set(try r.ids())))
        }
        return windows
    }

    /// Where an event of `customer` on `meter` at `time` counts.
    func place(_ time: Timestamp, meter: ID<Meter>, customer: ID<Customer>) -> Placement {
        let current = live[customer].flatMap { $0.meters.contains(meter) ? $0 : nil }
        if let current, time >= current.windowStart {
            guard time >= current.periodEnd else {
                return .counted(current.subscription, start: current.windowStart, plan: current.plan)
            }
            // Past the period's end before the billing run renewed it: the next period's
            // window, which the renewal opens at that end (none when the subscription ends there).
            return current.endsAtPeriodEnd
                ? .notBilled : .counted(current.subscription, start: current.periodEnd, plan: current.plan)
        }
        for window in closed[customer] ?? [] where window.meters.contains(meter) {
            if window.start <= time && time < window.end {
                return .counted(window.subscription, start: window.start, plan: window.plan)
            }
        }
        guard let current else { return .notBilled }
        return .closed(
            "falls before \(current.windowStart), in a period whose usage is invoiced already (or before the subscription)"
        )
    }
}
