import Common
import Postgres

/// The deliveries' rows as senders use them: claimed under a lease, and the outcome of
/// each attempt recorded with the next one scheduled.
public enum WebhookDeliveryStore {
    /// A delivery claimed for one attempt, with what the attempt needs.
    public struct Claimed: Sendable {
        public var id: ID<WebhookDelivery>
        public var endpointID: ID<WebhookEndpoint>
        public var attempts: Int
        public var eventSeq: Int64
        public var url: String
        /// The current secret, then the previous one while it has not expired.
        public var secrets: [String]
        public var event: Event
    }

    /// How an attempt ended.
    public struct Outcome: Equatable, Sendable {
        /// The HTTP status, nil when no answer came (then `error` says why).
        public var status: Int?
        public var error: String?
        /// At most 1 KiB of the answer's body, as text.
        public var excerpt: String?

        public init(status: Int?, error: String?, excerpt: String? = nil) {
            self.status = status
            self.error = error
            self.excerpt = excerpt
        }

        public var succeeded: Bool { (200..<300).contains(status ?? 0) }
    }

    /// The columns of `Claimed`, of `d` (the delivery), `w` (its endpoint), `e` (its event).
    private static func claimedColumns(now: Timestamp) -> SQLQuery {
        """
        d.id, d.endpoint_id, d.attempts, d.event_seq, w.url, w.secret, \
        CASE WHEN w.previous_secret_expires_at > \(now) THEN w.previous_secret END, \
        e.id, e.type, e.created_at, e.data
        """
    }

    private static func claimed(_ row: Row) throws -> Claimed {
        var r = RowReader(row)
        let id: ID<WebhookDelivery> = try r.id()
        let endpointID: ID<WebhookEndpoint> = try r.id()
        let attempts = try r.int()
        let eventSeq = try r.int64()
        let url = try r.string()
        let secrets = [try r.string()] + (r.optionalString().map { [$0] } ?? [])
        let event = try Event(&r)
        return Claimed(
            id: id, endpointID: endpointID, attempts: attempts, eventSeq: eventSeq, url: url, secrets: secrets,
            event: event)
    }

    /// Claims up to `limit` due deliveries of live endpoints, each endpoint's in event order:
    /// as many as `wanted` says for it (`fresh` for an endpoint it does not name), none that
    /// another sender holds. Each stays the caller's for `lease` seconds: past that another
    /// sender may take it (the first one died), so delivery is at least once.
    public static func claim(
        limit: Int, wanted: [(endpoint: ID<WebhookEndpoint>, count: Int)], fresh: Int, lease: Int,
        now: Timestamp, on db: Connection
    ) throws -> [Claimed] {
        var query: SQLQuery = """
            WITH due AS (SELECT d.id FROM webhook_endpoints w \
            LEFT JOIN unnest(\(SQLArray(wanted) { $0.endpoint })::uuid[], \(SQLArray(wanted) { $0.count })::int[]) \
            AS f(id, wanted) ON f.id = w.id \
            CROSS JOIN LATERAL (SELECT d.id FROM webhook_deliveries d WHERE d.endpoint_id = w.id \
            AND d.status = 'pending' AND d.next_attempt_at <= \(now) \
            AND (d.leased_until IS NULL OR d.leased_until < \(now)) ORDER BY d.next_attempt_at, d.event_seq \
            LIMIT coalesce(f.wanted, \(fresh)) FOR UPDATE OF d SKIP LOCKED) d \
            WHERE w.disabled_reason IS NULL AND w.deleted_at IS NULL AND coalesce(f.wanted, \(fresh)) > 0 LIMIT \(limit)) \
            UPDATE webhook_deliveries d SET leased_until = \(now.adding(seconds: Int64(lease))) \
            FROM due, events e, webhook_endpoints w \
            WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id RETURNING
            """
        query.append(" ")
        query.append(claimedColumns(now: now))
        return try db.query(query).rows.map(claimed).sorted { $0.eventSeq < $1.eventSeq }
    }

    /// Gives claimed deliveries back before their lease passes (a sender that stops).
    public static func release(_ ids: [ID<WebhookDelivery>], on db: Connection) throws {
        guard !ids.isEmpty else { return }
        try db.query(
            """
            UPDATE webhook_deliveries SET leased_until = NULL \
            WHERE id = ANY(\(SQLArray(ids))::uuid[]) AND status = 'pending'
            """)
    }

    /// One delivery locked for an attempt made now, whatever its status (a manual retry).
    public static func lockForRetry(_ id: ID<WebhookDelivery>, now: Timestamp, on db: Connection) throws -> Claimed {
        var query: SQLQuery = "SELECT "
        query.append(claimedColumns(now: now))
        query.append(
            """
             FROM webhook_deliveries d JOIN events e ON e.id = d.event_id \
            JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.id = \(id) FOR UPDATE OF d
            """)
        guard let row = try db.query(query).first else { throw BillingError.notFound("no such webhook delivery") }
        return try claimed(row)
    }

    /// What an attempt ended with, and what follows from it.
    public struct Attempt: Sendable {
        public var delivery: Claimed
        public var at: Timestamp
        public var outcome: Outcome
        /// When the next attempt is due; nil when there is none (succeeded, or the
        /// schedule is over).
        public var next: Timestamp?

        public init(delivery: Claimed, at: Timestamp, outcome: Outcome, schedule: [Int]) {
            self.delivery = delivery
            self.at = at
            self.outcome = outcome
            next =
                outcome.succeeded
                ? nil : WebhookDeliveryStore.nextAttempt(after: delivery.attempts + 1, at: at, schedule: schedule)
        }
    }

    /// The wait before the attempt after `attempts` (1 + the schedule's length in all), with
    /// ±10% jitter; nil when none is left.
    public static func nextAttempt(after attempts: Int, at time: Timestamp, schedule: [Int]) -> Timestamp? {
        guard attempts >= 1, attempts <= schedule.count else { return nil }
        let wait = Double(schedule[attempts - 1])
        return time.adding(seconds: Int64((wait * Double.random(in: 0.9...1.1)).rounded()))
    }

    /// Records attempts: a success is final; a failure of a pending delivery schedules the
    /// next attempt or, with none left, fails it; a retried delivery that had succeeded
    /// or failed keeps its status unless the attempt succeeds. Then the endpoints' health:
    /// one whose deliveries have all failed for `disableAfter` seconds is disabled.
    public static func record(_ attempts: [Attempt], disableAfter: Int, now: Timestamp, on db: Connection) throws {
        guard !attempts.isEmpty else { return }
        try db.query(
            """
            UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = r.at, \
            last_status_code = r.code, last_error = r.error, last_response_excerpt = r.excerpt, leased_until = NULL, \
            status = CASE WHEN r.ok THEN 'succeeded' WHEN d.status <> 'pending' THEN d.status \
            WHEN r.next IS NULL THEN 'failed' ELSE 'pending' END, \
            next_attempt_at = CASE WHEN r.ok OR d.status <> 'pending' THEN NULL ELSE r.next END, \
            succeeded_at = CASE WHEN r.ok THEN coalesce(d.succeeded_at, r.at) ELSE d.succeeded_at END \
            FROM unnest(\(SQLArray(attempts) { $0.delivery.id })::uuid[], \(SQLArray(attempts) { $0.at })::timestamptz[], \
            \(SQLArray(attempts) { $0.outcome.status })::int[], \(SQLArray(attempts) { $0.outcome.error })::text[], \
            \(SQLArray(attempts) { $0.outcome.excerpt })::text[], \(SQLArray(attempts) { $0.outcome.succeeded })::bool[], \
            \(SQLArray(attempts) { $0.next })::timestamptz[]) AS r(id, at, code, error, excerpt, ok, next) \
            WHERE d.id = r.id
            """)
        let succeeded = Array(Set(attempts.filter(\.outcome.succeeded).map(\.delivery.endpointID)))
        let failed = Array(Set(attempts.filter { !$0.outcome.succeeded }.map(\.delivery.endpointID)))
        try db.query(
            """
            UPDATE webhook_endpoints SET failing_since = CASE WHEN id = ANY(\(SQLArray(succeeded))::uuid[]) THEN NULL \
            ELSE coalesce(failing_since, \(now)) END \
            WHERE id = ANY(\(SQLArray(succeeded + failed))::uuid[]) \
            AND (failing_since IS NULL) <> (id = ANY(\(SQLArray(succeeded))::uuid[]))
            """)
        let disabled = try db.query(
            """
            UPDATE webhook_endpoints SET disabled_reason = 'failing', updated_at = \(now) \
            WHERE id = ANY(\(SQLArray(failed))::uuid[]) AND disabled_reason IS NULL AND deleted_at IS NULL \
            AND failing_since <= \(now.adding(seconds: -Int64(disableAfter))) \
            RETURNING \(unsafeSQL: WebhookEndpoint.columns)
            """
        ).rows.map(WebhookEndpoint.init(row:))
        var events = EventLog.Pending()
        events.add(.webhookEndpointDisabled, each: disabled)
        try events.append(at: now, on: db)
    }

    public static func get(_ id: ID<WebhookDelivery>, on db: Connection) throws -> WebhookDelivery {
        guard
            let row = try db.query(
                "SELECT \(unsafeSQL: WebhookDelivery.columns) FROM webhook_deliveries WHERE id = \(id)"
            ).first
        else { throw BillingError.notFound("no such webhook delivery") }
        return try WebhookDelivery(row: row)
    }

    public static func list(
        endpoint: ID<WebhookEndpoint>, status: WebhookDelivery.Status?, page: PageRequest, on db: Connection
    ) throws -> Page<WebhookDelivery> {
        _ = try WebhookEndpointService.get(endpoint, on: db)
        var query = ListQuery(table: "webhook_deliveries", columns: WebhookDelivery.columns)
        query.filter("endpoint_id", endpoint)
        query.filter("status", status?.rawValue)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: WebhookDelivery.init(row:))
    }

    /// What `/status` and `/metrics` show of the deliveries: how many are pending, have
    /// succeeded and have failed, and how long the oldest pending one has waited.
    public struct Health: Sendable {
        public var pending: Int64
        public var succeeded: Int64
        public var failed: Int64
        public var oldestPendingSeconds: Int64
    }

    /// Pending deliveries are read through their partial index; the succeeded and failed
    /// are counted (a scan: these are operators' reads, loopback only).
    public static func health(on db: Connection) throws -> Health {
        let row = try db.query(
            """
            SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'succeeded'), \
            count(*) FILTER (WHERE status = 'failed'), \
            coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending'))::bigint, 0) \
            FROM webhook_deliveries
            """)[0]
        var r = RowReader(row)
        return Health(
            pending: try r.int64(), succeeded: try r.int64(), failed: try r.int64(), oldestPendingSeconds: try r.int64()
        )
    }
}
