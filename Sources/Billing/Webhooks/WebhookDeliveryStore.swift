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
        /// When it became due, PostgreSQL's microseconds since 1970.
        public var dueMicros: Int64
        public var url: String
        /// The current secret, then the previous one while it has not expired.
        public var secrets: [String]
        public var event: Event

        /// Where it stood among its endpoint's due deliveries when claimed.
        public var position: Position { Position(dueMicros: dueMicros, eventSeq: eventSeq) }
    }

    /// A delivery's place in its endpoint's queue: due time (PostgreSQL's microseconds since
    /// 1970), then event order, as the due-deliveries index orders them.
    public struct Position: Comparable, Sendable {
        public var dueMicros: Int64
        public var eventSeq: Int64

        public init(dueMicros: Int64, eventSeq: Int64) {
            self.dueMicros = dueMicros
            self.eventSeq = eventSeq
        }

        public static func < (a: Position, b: Position) -> Bool {
            (a.dueMicros, a.eventSeq) < (b.dueMicros, b.eventSeq)
        }
    }

    /// What a claim asks of one endpoint: how many of its due deliveries, and from where.
    public struct Wanted: Sendable {
        public var endpoint: ID<WebhookEndpoint>
        public var count: Int
        /// Only deliveries after this position: past those already claimed, which the
        /// index would otherwise walk through again (leased ones, and the entries of those
        /// already recorded, until a vacuum removes them). Nil: from the first.
        public var after: Position?

        public init(endpoint: ID<WebhookEndpoint>, count: Int, after: Position?) {
            self.endpoint = endpoint
            self.count = count
            self.after = after
        }
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

        /// Why no answer came, for the reasons `last_error` names and `/metrics` counts
        /// apart; any other reason is libcurl's own text.
        public enum Failure: String, Sendable {
            case timeout = "timeout"
            case connectionRefused = "connection refused"
            case addressRefused = "address refused"
            case hostNotResolved = "host not resolved"
        }

        /// The attempt's result as `/metrics` counts it: one of a few, whatever the receiver
        /// answered or libcurl said.
        public var result: String {
            if let status {
                return switch status {
                case 200..<300: "succeeded"
                case 300..<400: "http_3xx"
                case 400..<500: "http_4xx"
                case 500..<600: "http_5xx"
                default: "http_other"
                }
            }
            return switch error.flatMap(Failure.init(rawValue:)) {
            case .timeout: "timeout"
            case .connectionRefused: "connection_refused"
            case .addressRefused: "address_refused"
            case .hostNotResolved: "host_not_resolved"
            case nil: "other_error"
            }
        }
    }

    /// The columns of `Claimed`, of `d` (the delivery), `w` (its endpoint), `e` (its event).
    private static func claimedColumns(now: Timestamp) -> SQLQuery {
        """
        d.id, d.endpoint_id, d.attempts, d.event_seq, \
        coalesce(extract(epoch FROM d.next_attempt_at) * 1000000, 0)::bigint, w.url, w.secret, \
        CASE WHEN w.previous_secret_expires_at > \(now) THEN w.previous_secret END, \
        e.id, e.type, e.created_at, e.test_clock_id, e.data
        """
    }

    private static func claimed(_ row: Row) throws -> Claimed {
        var r = RowReader(row)
        let id: ID<WebhookDelivery> = try r.id()
        let endpointID: ID<WebhookEndpoint> = try r.id()
        let attempts = try r.int()
        let eventSeq = try r.int64()
        let dueMicros = try r.int64()
        let url = try r.string()
        let secrets = [try r.string()] + (r.optionalString().map { [$0] } ?? [])
        let event = try Event(&r)
        return Claimed(
            id: id, endpointID: endpointID, attempts: attempts, eventSeq: eventSeq, dueMicros: dueMicros, url: url,
            secrets: secrets, event: event)
    }

    /// Claims up to `limit` due deliveries of live endpoints, each endpoint's in event order:
    /// as many as `wanted` says for it, after the position it names (`fresh` from the first
    /// for an endpoint it does not name), none that another sender holds. Each stays the
    /// caller's for `lease` seconds: past that another sender may take it (the first one
    /// died), so delivery is at least once.
    ///
    /// Due and leased are judged by PostgreSQL's clock, to the microsecond: `now` is whole
    /// seconds, which held every new delivery back until the next second (measured: lag p50
    /// 550 ms at 100 events/s). The leased rows are found again by their row addresses
    /// (locked by this statement, they stay where they are) and their events one by one
    /// through the primary key: hash joins over whole tables were the plan otherwise
    /// (measured: 23 of the 64 ms a claim of 2,000 took).
    public static func claim(
        limit: Int, wanted: [Wanted], fresh: Int, lease: Int, now: Timestamp, on db: Connection
    ) throws -> [Claimed] {
        // The position's microseconds back to a timestamp exactly (an interval times an
        // integer below 2^53 is exact), compared as the index orders its entries.
        var query: SQLQuery = """
            WITH due AS (SELECT d.row_at FROM webhook_endpoints w \
            LEFT JOIN unnest(\(SQLArray(wanted) { $0.endpoint })::uuid[], \(SQLArray(wanted) { $0.count })::int[], \
            \(SQLArray(wanted) { $0.after?.dueMicros })::bigint[], \(SQLArray(wanted) { $0.after?.eventSeq })::bigint[]) \
            AS f(id, wanted, after_micros, after_seq) ON f.id = w.id \
            CROSS JOIN LATERAL (SELECT d.ctid AS row_at FROM webhook_deliveries d WHERE d.endpoint_id = w.id \
            AND d.status = 'pending' AND d.next_attempt_at <= now() \
            AND (d.next_attempt_at, d.event_seq) > (coalesce(timestamptz 'epoch' + f.after_micros * interval '1 microsecond', \
            '-infinity'), coalesce(f.after_seq, 0)) \
            AND (d.leased_until IS NULL OR d.leased_until < now()) ORDER BY d.next_attempt_at, d.event_seq \
            LIMIT coalesce(f.wanted, \(fresh)) FOR UPDATE OF d SKIP LOCKED) d \
            WHERE w.disabled_reason IS NULL AND w.deleted_at IS NULL AND coalesce(f.wanted, \(fresh)) > 0 LIMIT \(limit)), \
            d AS (UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => \(lease)) \
            WHERE d.ctid = ANY(ARRAY(SELECT row_at FROM due)) \
            RETURNING d.id, d.endpoint_id, d.attempts, d.event_seq, d.next_attempt_at, d.event_id) \
            SELECT
            """
        query.append(" ")
        query.append(claimedColumns(now: now))
        query.append(
            """
             FROM d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
            CROSS JOIN LATERAL (SELECT * FROM events e WHERE e.id = d.event_id) e
            """)
        return try db.query(query).rows.map(claimed).sorted { $0.eventSeq < $1.eventSeq }
    }

    /// Gives claimed deliveries back before their lease passes (a sender that stops).
    public static func release(_ deliveries: [Claimed], on db: Connection) throws {
        guard !deliveries.isEmpty else { return }
        try db.query(
            """
            UPDATE webhook_deliveries d SET leased_until = NULL \
            FROM unnest(\(SQLArray(deliveries) { $0.endpointID })::uuid[], \(SQLArray(deliveries) { $0.eventSeq })::bigint[]) \
            AS r(endpoint_id, event_seq) \
            WHERE d.endpoint_id = r.endpoint_id AND d.event_seq = r.event_seq AND d.status = 'pending'
            """)
    }

    /// One delivery locked for an attempt made now, whatever its status (a manual retry).
    public static func lockForRetry(_ id: ID<WebhookDelivery>, now: Timestamp, on db: Connection) throws -> Claimed {
        var query: SQLQuery = "SELECT "
        query.append(claimedColumns(now: now))
        query.append(
            """
             FROM webhook_deliveries d JOIN events e ON e.id = d.event_id \
            JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE
            """)
        query.append(" ")
        query.append(WebhookDeliveryKey.locating(id))
        query.append(" FOR UPDATE OF d")
        guard let row = try db.query(query).first else { throw BillingError.notFound("no such webhook delivery") }
        return try claimed(row)
    }

    /// What an attempt ended with, and what follows from it.
    public struct Attempt: Sendable {
        public var delivery: Claimed
        public var at: Timestamp
        public var outcome: Outcome
        /// Milliseconds from the outcome's record to the next attempt; nil when there is
        /// none (succeeded, or the schedule is over).
        public var retryAfterMillis: Int?

        public init(delivery: Claimed, at: Timestamp, outcome: Outcome, schedule: [Int]) {
            self.delivery = delivery
            self.at = at
            self.outcome = outcome
            retryAfterMillis =
                outcome.succeeded
                ? nil : WebhookDeliveryStore.retryWaitMillis(after: delivery.attempts + 1, schedule: schedule)
        }
    }

    /// The wait before the attempt after `attempts` (1 + the schedule's length in all), with
    /// ±10% jitter; nil when none is left. Counted by PostgreSQL's clock from the record, as
    /// due deliveries are judged by it (whole-second `Timestamp`s would cut a 1 s wait short).
    public static func retryWaitMillis(after attempts: Int, schedule: [Int]) -> Int? {
        guard attempts >= 1, attempts <= schedule.count else { return nil }
        return schedule[attempts - 1] * Int.random(in: 900...1100)
    }

    /// Records attempts: a success is final; a failure of a pending delivery schedules the
    /// next attempt or, with none left, fails it; a retried delivery that had succeeded
    /// or failed keeps its status unless the attempt succeeds. Then the endpoints' health:
    /// one whose deliveries have all failed for `disableAfter` seconds is disabled — timed by
    /// PostgreSQL's clock, like due times (whole seconds disabled an endpoint up to a second
    /// early, before its last scheduled attempt).
    public static func record(_ attempts: [Attempt], disableAfter: Int, now: Timestamp, on db: Connection) throws {
        guard !attempts.isEmpty else { return }
        // The attempts are counted by result in the same statement: no round trip of their own.
        try db.query(
            """
            WITH counted AS (INSERT INTO webhook_attempt_counts (result, attempts) \
            SELECT result, count(*) FROM unnest(\(SQLArray(attempts) { $0.outcome.result })::text[]) AS r(result) \
            GROUP BY result ORDER BY result \
            ON CONFLICT (result) DO UPDATE SET attempts = webhook_attempt_counts.attempts + excluded.attempts) \
            UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = r.at, \
            last_status_code = r.code, last_error = r.error, last_response_excerpt = r.excerpt, leased_until = NULL, \
            status = CASE WHEN r.ok THEN 'succeeded' WHEN d.status <> 'pending' THEN d.status \
            WHEN r.wait IS NULL THEN 'failed' ELSE 'pending' END, \
            next_attempt_at = CASE WHEN r.ok OR d.status <> 'pending' THEN NULL \
            ELSE now() + make_interval(secs => r.wait / 1000.0) END, \
            succeeded_at = CASE WHEN r.ok THEN coalesce(d.succeeded_at, r.at) ELSE d.succeeded_at END \
            FROM unnest(\(SQLArray(attempts) { $0.delivery.endpointID })::uuid[], \
            \(SQLArray(attempts) { $0.delivery.eventSeq })::bigint[], \(SQLArray(attempts) { $0.at })::timestamptz[], \
            \(SQLArray(attempts) { $0.outcome.status })::int[], \(SQLArray(attempts) { $0.outcome.error })::text[], \
            \(SQLArray(attempts) { $0.outcome.excerpt })::text[], \(SQLArray(attempts) { $0.outcome.succeeded })::bool[], \
            \(SQLArray(attempts) { $0.retryAfterMillis })::bigint[]) \
            AS r(endpoint_id, event_seq, at, code, error, excerpt, ok, wait) \
            WHERE d.endpoint_id = r.endpoint_id AND d.event_seq = r.event_seq
            """)
        let succeeded = Array(Set(attempts.filter(\.outcome.succeeded).map(\.delivery.endpointID)))
        let failed = Array(Set(attempts.filter { !$0.outcome.succeeded }.map(\.delivery.endpointID)))
        try db.query(
            """
            UPDATE webhook_endpoints SET failing_since = CASE WHEN id = ANY(\(SQLArray(succeeded))::uuid[]) THEN NULL \
            ELSE coalesce(failing_since, now()) END \
            WHERE id = ANY(\(SQLArray(succeeded + failed))::uuid[]) \
            AND (failing_since IS NULL) <> (id = ANY(\(SQLArray(succeeded))::uuid[]))
            """)
        let disabled = try db.query(
            """
            UPDATE webhook_endpoints SET disabled_reason = 'failing', updated_at = \(now) \
            WHERE id = ANY(\(SQLArray(failed))::uuid[]) AND disabled_reason IS NULL AND deleted_at IS NULL \
            AND failing_since <= now() - make_interval(secs => \(disableAfter)) \
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
                "SELECT \(unsafeSQL: WebhookDelivery.columns) FROM webhook_deliveries d WHERE \(query: WebhookDeliveryKey.locating(id))"
            ).first
        else { throw BillingError.notFound("no such webhook delivery") }
        return try WebhookDelivery(row: row)
    }

    public static func list(
        endpoint: ID<WebhookEndpoint>, status: WebhookDelivery.Status?, page: PageRequest, on db: Connection
    ) throws -> Page<WebhookDelivery> {
        _ = try WebhookEndpointService.get(endpoint, on: db)
        var query = ListQuery(table: "webhook_deliveries", columns: WebhookDelivery.columns)
        // In their events' order: `event_seq` is unique per endpoint, and `(endpoint_id,
        // event_seq)` is the index this reads.
        query.order = "event_seq"
        query.locating = { WebhookDeliveryKey.locating(ID($0)) }
        query.filter("endpoint_id", endpoint)
        query.filter("status", status?.rawValue)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: WebhookDelivery.init(row:))
    }

    /// What `/status` and `/metrics` show of the deliveries: how many are pending, have
    /// succeeded and have failed, how long the oldest pending one has waited, and every
    /// attempt so far by its result.
    public struct Health: Sendable {
        public var pending: Int64
        public var succeeded: Int64
        public var failed: Int64
        public var oldestPendingSeconds: Int64
        /// By result, in result order; a result never seen is absent.
        public var attempts: [(result: String, count: Int64)]
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
        var health = Health(
            pending: try r.int64(), succeeded: try r.int64(), failed: try r.int64(),
            oldestPendingSeconds: try r.int64(),
            attempts: [])
        health.attempts = try db.query("SELECT result, attempts FROM webhook_attempt_counts ORDER BY result").rows.map {
            var r = RowReader($0)
            return (try r.string(), try r.int64())
        }
        return health
    }
}
