import Common
import Postgres

/// `POST /subscriptions/{id}/pause` and `/unpause` (`time.md`): collection paused, periods
/// still advancing. What the billing run does with the invoices made meanwhile is in
/// `renew` (the pause's behavior, applied as each is made); `resumes_at` ends the pause in
/// the run (`resumeBatch`).
extension SubscriptionService {
    public static func pause(
        _ id: ID<Subscription>, _ pause: PauseCollection, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> Subscription {
        try act(on: id, now: now, config: config, on: db) { subscription, now in
            guard subscription.status != .canceled else { throw ended }
            if let resumesAt = pause.resumesAt, resumesAt <= now {
                throw BillingError.invalid(field: "resumes_at", message: "must be in the future")
            }
            return "pause_behavior = \(pause.behavior.rawValue), pause_resumes_at = \(pause.resumesAt)"
        }
    }

    public static func unpause(_ id: ID<Subscription>, now: Timestamp, config: BillingConfig, on db: Connection)
        throws -> Subscription
    {
        try act(on: id, now: now, config: config, on: db) { subscription, _ in
            guard subscription.status != .canceled else { throw ended }
            return "pause_behavior = NULL, pause_resumes_at = NULL"
        }
    }

    /// Ends the pauses whose `resumes_at` has come, once every period begun before it has
    /// been invoiced (its invoice is the pause's to treat); returns how many it ended.
    static func resumeBatch(
        asOf: Timestamp, now: Timestamp, scope: BillingRun.Scope, limit: Int, on db: Connection
    ) throws -> Int {
        let clock = scope.testClockID
        let wait = clock == nil ? "SKIP LOCKED" : ""
        let rows = try db.query(
            """
            WITH due AS (SELECT id FROM subscriptions WHERE pause_resumes_at <= \(asOf) \
            AND current_period_end >= pause_resumes_at AND test_clock_id IS NOT DISTINCT FROM \(clock)\
            \(query: scope.shardCondition("customer_id")) \
            ORDER BY pause_resumes_at LIMIT \(limit) FOR UPDATE \(unsafeSQL: wait)) \
            UPDATE subscriptions s SET pause_behavior = NULL, pause_resumes_at = NULL, updated_at = \(now) \
            FROM due WHERE s.id = due.id RETURNING \(unsafeSQL: Subscription.qualifiedColumns)
            """)
        var events = EventLog.Pending(testClockID: clock)
        events.add(.subscriptionUpdated, each: try rows.rows.map(Subscription.init(row:)))
        try events.append(at: now, on: db)
        return rows.rowCount
    }
}
