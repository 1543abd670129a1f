import Common
import Postgres

/// Test clocks (`time.md`): customers that live at a clock's frozen time, moved only by
/// advancing the clock, which runs the real billing run for them at every boundary in
/// between, in order: the code that bills real time, stepping through simulated time.
public enum TestClockService {
    public struct Create: Sendable {
        public var frozenTime: Timestamp
        public var name: String
        public init(frozenTime: Timestamp, name: String) {
            self.frozenTime = frozenTime
            self.name = name
        }
    }

    /// How long an advance holds its clock without a step: one whose process died is taken
    /// over by the next advance request after this, from the last step it committed.
    static let leaseSeconds = 300

    static let unknown = BillingError.notFound("no such test clock")

    public static func create(_ input: Create, now: Timestamp, on db: Connection) throws -> TestClock {
        try TestClock(
            row: try db.query(
                """
                INSERT INTO test_clocks (id, name, frozen_time, status, created_at, updated_at) \
                VALUES (\(ID<TestClock>.generate()), \(input.name), \(input.frozenTime), 'ready', \(now), \(now)) \
                RETURNING \(unsafeSQL: TestClock.columns)
                """)[0])
    }

    public static func get(_ id: ID<TestClock>, on db: Connection) throws -> TestClock {
        guard let row = try db.query("SELECT \(unsafeSQL: TestClock.columns) FROM test_clocks WHERE id = \(id)").first
        else { throw unknown }
        return try TestClock(row: row)
    }

    public static func list(page: PageRequest, on db: Connection) throws -> Page<TestClock> {
        try ListQuery(table: "test_clocks", columns: TestClock.columns).run(
            on: db, page: page, cursor: { $0.id.description }, decode: TestClock.init(row:))
    }

    /// The time a locked customer's writes happen at: its clock's frozen time, or `now` for
    /// a customer on none. Read in a statement of its own after the customer's row lock, so
    /// that an advance step that committed while the lock was awaited is seen; the events
    /// of the transaction carry the clock.
    static func now(
        onClock clockID: ID<TestClock>?, else now: Timestamp, events: inout EventLog.Pending, on db: Connection
    ) throws -> Timestamp {
        guard let clockID else { return now }
        events.testClockID = clockID
        return try time(onClock: clockID, else: now, on: db)
    }

    /// `now`, or the frozen time of the clock, for what is read rather than written.
    static func time(onClock clockID: ID<TestClock>?, else now: Timestamp, on db: Connection) throws -> Timestamp {
        guard let clockID else { return now }
        var r = RowReader(try db.query("SELECT frozen_time FROM test_clocks WHERE id = \(clockID)")[0])
        return try r.timestamp()
    }

    /// The frozen time of a clock a new customer is put on, held (`FOR SHARE`) until the
    /// customer is stored, so that no advance step passes between the two.
    static func timeForNewCustomer(on clockID: ID<TestClock>, on db: Connection) throws -> Timestamp {
        guard let row = try db.query("SELECT frozen_time FROM test_clocks WHERE id = \(clockID) FOR SHARE").first
        else { throw unknown }
        var r = RowReader(row)
        return try r.timestamp()
    }

    /// Advances the clock to `target`, stepping the billing run of its customers through
    /// every instant in between at which something is due (a period's end, a trial's end,
    /// an invoice's due date, the end of its grace), in order, each step its own batches of
    /// transactions as in real time. Not one transaction: the clock says `advancing` (other
    /// advances are refused with 409) and its frozen time moves step by step, so requests
    /// for its customers made meanwhile happen at the step they meet.
    ///
    /// Each step's run works on `db` and on every connection of `helpers` at once, each on
    /// its own shard of the clock's customers (measured: one connection left a core idle
    /// while PostgreSQL waited for the next statement).
    public static func advance(
        _ id: ID<TestClock>, to target: Timestamp, now: Timestamp, config: BillingConfig, on db: Connection,
        helpers: [Connection] = []
    ) throws -> TestClock {
        try db.transaction { try begin(id, to: target, now: now, on: db) }
        do {
            return try runSteps(id, to: target, now: now, config: config, on: [db] + helpers)
        } catch {
            // A failed advance leaves the clock ready at the last step it finished, so that
            // the next advance may start at once rather than after the lease (best effort:
            // if the database is gone, the lease frees the clock).
            try? db.query("RESET synchronous_commit")
            _ = try? db.query(
                """
                UPDATE test_clocks SET status = 'ready', advancing_to = NULL, advance_lease_until = NULL \
                WHERE id = \(id) AND status = 'advancing'
                """)
            throw error
        }
    }

    /// The steps of `advance`, on its connections (the first is the request's).
    private static func runSteps(
        _ id: ID<TestClock>, to target: Timestamp, now: Timestamp, config: BillingConfig,
        on connections: [Connection]
    ) throws -> TestClock {
        let db = connections[0]
        // The steps' commits do not wait for the disk: a crash loses at most the last ones,
        // in commit order (the write-ahead log is one sequence), so the clock's time and
        // what was billed by then are lost together and the next advance redoes them. The
        // last commit, the clock's `ready`, waits for the disk, and with it every one before
        // (measured: 24 fsyncs of 12 monthly steps were a tenth of an advance).
        for connection in connections { try connection.query("SET synchronous_commit = off") }
        let shards = try BillingRun.Shard.splitting(customersOf: id, into: connections.count, on: db)
        var step = try get(id, on: db).frozenTime
        // Dunning runs at the first and the last step and wherever an invoice falls due, a
        // grace ends or a pause ends (at a period's end alone, nothing can have become overdue).
        var dunning = true
        while true {
            // What is due at the step itself first: an advance taken over from one that died
            // resumes with the step that one committed.
            let (asOf, withDunning) = (step, dunning || step == target)
            try runSharded(shards, on: connections) { shard, connection in
                _ = try BillingRun.run(
                    asOf: asOf, now: asOf, scope: .clock(id, shard: shard), config: config, dunning: withDunning,
                    on: connection)
            }
            guard step < target else { break }
            (step, dunning) = try nextStep(of: id, after: step, until: target, config: config, on: db)
            try db.query(
                """
                UPDATE test_clocks SET frozen_time = \(step), \
                advance_lease_until = now() + make_interval(secs => \(leaseSeconds)), updated_at = \(now) \
                WHERE id = \(id)
                """)
        }
        try db.query("RESET synchronous_commit")
        return try TestClock(
            row: try db.query(
                """
                UPDATE test_clocks SET status = 'ready', advancing_to = NULL, advance_lease_until = NULL, \
                updated_at = \(now) WHERE id = \(id) RETURNING \(unsafeSQL: TestClock.columns)
                """)[0])
    }

    /// Runs `body` for each shard on a thread of its own, with a connection of its own;
    /// rethrows the first error once all are over.
    private static func runSharded(
        _ shards: [BillingRun.Shard], on connections: [Connection],
        _ body: @escaping @Sendable (BillingRun.Shard, Connection) throws -> Void
    ) throws {
        guard shards.count > 1 else { return try body(shards[0], connections[0]) }
        let shared = ThreadConnections(connections)
        let results = inParallel(shards.count) { index in Result { try body(shards[index], shared.all[index]) } }
        for result in results { try result.get() }
    }

    /// Marks the clock `advancing` to `target`, or refuses: 404, 409 while another advance
    /// holds it, 422 for a target not after its time or more than two years ahead.
    private static func begin(_ id: ID<TestClock>, to target: Timestamp, now: Timestamp, on db: Connection) throws {
        guard
            let row = try db.query(
                """
                SELECT \(unsafeSQL: TestClock.columns), coalesce(advance_lease_until > now(), false) FROM test_clocks \
                WHERE id = \(id) FOR UPDATE
                """
            ).first
        else { throw unknown }
        var r = RowReader(row)
        let clock = try TestClock(&r)
        if clock.status == .advancing, try r.bool() {
            throw BillingError.conflict(
                "the test clock is advancing; try again when it is ready", slug: "clock-advancing")
        }
        guard target > clock.frozenTime else {
            throw BillingError.invalid(
                field: "frozen_time", message: "must be later than the clock's \(clock.frozenTime)")
        }
        // Two calendar years at most (in UTC; Feb 29 clamps to Feb 28).
        let latest = BillingSchedule(anchor: clock.frozenTime, interval: .init(unit: .year, count: 1)).boundary(2)
        guard target <= latest else {
            throw BillingError.invalid(
                field: "frozen_time", message: "must be at most two years after the clock's time")
        }
        try db.query(
            """
            UPDATE test_clocks SET status = 'advancing', advancing_to = \(target), \
            advance_lease_until = now() + make_interval(secs => \(leaseSeconds)), updated_at = \(now) WHERE id = \(id)
            """)
    }

    /// The first instant after `after` at which the clock's run has something to do, or
    /// `target` if nothing is due before it: the earliest end of a live subscription's
    /// period (trials end at one), of a usage window's grace or of a pause, due date of an
    /// open invoice, or end of its grace; and whether dunning has anything to do there (all but a period's end).
    ///
    /// Each candidate is the first row of an index read in time order from `after` and
    /// bounded by `target`, the invoices' by clock (sql/0023), so a step reads neither every
    /// open invoice of the clock (measured: aggregating them took 7–12 ms a step once the
    /// clock had 12,000, each step on the advance's critical path) nor other clocks' due at
    /// the same instants.
    static func nextStep(
        of id: ID<TestClock>, after: Timestamp, until target: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> (step: Timestamp, dunning: Bool) {
        let grace = Int64(config.dunningGraceDays) * 86_400
        // The first due date in (`from`, `to`] of an open invoice of the clock's customers.
        func firstDue(after from: Timestamp, until to: Timestamp) -> SQLQuery {
            """
            (SELECT due_at FROM invoices WHERE test_clock_id = \(id) AND status = 'open' \
            AND due_at > \(from) AND due_at <= \(to) ORDER BY due_at LIMIT 1)
            """
        }
        let dueDate = firstDue(after: after, until: target)
        let graceEnd = firstDue(after: after.adding(seconds: -grace), until: target.adding(seconds: -grace))
        // `OFFSET 0`: each candidate is read once, not again for each use of it.
        let query: SQLQuery = """
            SELECT least(\(target)::timestamptz, renewal, dunning), \
            coalesce(dunning <= least(\(target)::timestamptz, renewal), false) \
            FROM (SELECT least((SELECT min(current_period_end) FROM subscriptions \
             WHERE test_clock_id = \(id) AND status <> 'canceled' AND current_period_end > \(after)), \
             (SELECT w.closes_at FROM usage_windows w JOIN subscriptions s ON s.id = w.subscription_id \
              WHERE w.billed_at IS NULL AND w.closes_at > \(after) AND w.closes_at <= \(target) \
              AND s.test_clock_id = \(id) ORDER BY w.closes_at LIMIT 1)) AS renewal, \
             least((SELECT pause_resumes_at FROM subscriptions WHERE pause_resumes_at > \(after) \
              AND pause_resumes_at <= \(target) AND test_clock_id = \(id) ORDER BY pause_resumes_at LIMIT 1), \
             \(query: dueDate), \(query: graceEnd) + make_interval(secs => \(grace))) AS dunning OFFSET 0) candidates
            """
        var r = RowReader(try db.query(query)[0])
        return (try r.timestamp(), try r.bool())
    }
}

/// The connections of `runSharded`'s threads: each thread uses only its own.
private final class ThreadConnections: @unchecked Sendable {
    let all: [Connection]
    init(_ all: [Connection]) { self.all = all }
}
