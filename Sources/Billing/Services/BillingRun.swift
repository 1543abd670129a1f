import Common
import Postgres

/// The billing run: renewals (every missed period, in order), trial ends, cancels at
/// period end, then dunning, all up to `asOf`.
///
/// It works in batches, each its own transaction that locks its subscriptions with
/// `FOR UPDATE SKIP LOCKED`: any number of runs on any number of hosts share the work
/// without waiting for each other, a killed run loses only its open batch, and the unique
/// index on (subscription, period start) makes a second invoice for a period impossible.
public enum BillingRun {
    public struct Summary: Equatable, Sendable, JSONWritable {
        public var asOf: Timestamp
        public var invoicesCreated = 0
        public var subscriptionsRenewed = 0
        public var trialsEnded = 0
        public var subscriptionsCanceled = 0
        public var markedPastDue = 0

        public init(asOf: Timestamp) { self.asOf = asOf }

        /// Adds the counts of another run over the same `asOf` (runs working in parallel).
        public mutating func add(_ other: Summary) {
            invoicesCreated += other.invoicesCreated
            subscriptionsRenewed += other.subscriptionsRenewed
            trialsEnded += other.trialsEnded
            subscriptionsCanceled += other.subscriptionsCanceled
            markedPastDue += other.markedPastDue
        }

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("as_of", asOf)
            json.field("invoices_created", invoicesCreated)
            json.field("subscriptions_renewed", subscriptionsRenewed)
            json.field("trials_ended", trialsEnded)
            json.field("subscriptions_canceled", subscriptionsCanceled)
            json.field("marked_past_due", markedPastDue)
            json.endObject()
        }
    }

    public static let defaultBatchSize = 500

    /// Whose subscriptions a run bills.
    public enum Scope: Equatable, Sendable {
        /// Every customer on no test clock, at real time. Customers and subscriptions are
        /// locked together and none is waited for (`SKIP LOCKED`): runs on many hosts share
        /// the work, and one that meets a lock leaves that subscription to the next run.
        case realTime
        /// The customers of one test clock, at the time the clock is stepping through. None
        /// may be skipped, since the clock moves on after the run: each is waited for,
        /// customers first and in id order, the order every request locks them in. Runs on
        /// several connections at once take a shard each, so none waits for another.
        case clock(ID<TestClock>, shard: Shard = .whole)

        /// The clock its events carry.
        var testClockID: ID<TestClock>? {
            guard case .clock(let id, _) = self else { return nil }
            return id
        }

        /// `AND …` keeping the rows of this run's shard of customers, by `column`.
        func shardCondition(_ column: String) -> SQLQuery {
            guard case .clock(_, let shard) = self else { return "" }
            var condition: SQLQuery = ""
            if let from = shard.from { condition.append(" AND \(unsafeSQL: column) >= \(from)") }
            if let upTo = shard.upTo { condition.append(" AND \(unsafeSQL: column) < \(upTo)") }
            return condition
        }
    }

    /// One of the disjoint parts of a clock's customers that a step runs on connections of
    /// their own: the customers with ids from `from` (if any) up to `upTo` (if any).
    public struct Shard: Equatable, Sendable {
        public var from: ID<Customer>?
        public var upTo: ID<Customer>?
        public static let whole = Shard()

        /// A clock's customers in `count` ranges of ids as equal in size as they are now, so
        /// that a shard within a batch's limit takes one batch (measured: a hash of the ids
        /// split 1,000 customers unevenly, and the larger shard's second batch cost each step
        /// about 11 ms with one core idle). Customers added meanwhile join one of them.
        public static func splitting(customersOf clock: ID<TestClock>, into count: Int, on db: Connection) throws
            -> [Shard]
        {
            guard count > 1 else { return [.whole] }
            // The ids at positions total × i / count (from 0) for i in 1..<count: the first of
            // each shard but the first.
            let bounds = try db.query(
                """
                SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS position, \
                count(*) OVER () AS total FROM customers WHERE test_clock_id = \(clock)) c \
                WHERE position > 0 AND position IN (SELECT total * i / \(count) FROM generate_series(1, \(count - 1)) i) \
                ORDER BY id
                """
            ).rows.map { row in
                var r = RowReader(row)
                return try r.id(Customer.self)
            }
            // Fewer customers than shards: one shard, which takes any added meanwhile.
            guard bounds.count == count - 1 else { return [.whole] }
            let firsts: [ID<Customer>?] = [nil] + bounds
            let ends: [ID<Customer>?] = bounds + [nil]
            return zip(firsts, ends).map { Shard(from: $0, upTo: $1) }
        }
    }

    /// Times a batch is run again after a deadlock or serialization failure before the run
    /// gives up (and says so: the caller logs the error).
    static let batchAttempts = 5

    /// `dunning: false` leaves dunning out: for a clock's step at which nothing can have
    /// become overdue or passed its grace.
    public static func run(
        asOf: Timestamp, now: Timestamp, scope: Scope = .realTime, config: BillingConfig,
        batchSize: Int = defaultBatchSize, dunning: Bool = true, on db: Connection
    ) throws -> Summary {
        // Renewals, then the pauses that end, then usage finalization, then (unless left out) dunning and the invoices
        // that dunning's cancellations leave uncollectible.
        let invoiceLimit = SubscriptionService.invoicesPerTransaction
        var steps: [(limit: Int, body: (inout Summary) throws -> Int)] = [
            (
                batchSize,
                {
                    try renewBatch(
                        asOf: asOf, now: now, scope: scope, config: config, limit: batchSize, summary: &$0, on: db)
                }
            ),
            (
                batchSize,
                { _ in
                    try SubscriptionService.resumeBatch(asOf: asOf, now: now, scope: scope, limit: batchSize, on: db)
                }
            ),
            // Usage windows whose grace has passed: their drafts are finalized.
            (
                batchSize,
                { _ in
                    try UsageBilling.finalizeBatch(
                        asOf: asOf, now: now, scope: scope, config: config, limit: batchSize, on: db)
                }
            ),
        ]
        if dunning {
            steps += [
                (
                    batchSize,
                    {
                        try dunningBatch(
                            asOf: asOf, now: now, scope: scope, config: config, limit: batchSize, summary: &$0, on: db)
                    }
                ),
                (
                    invoiceLimit,
                    { _ in
                        try InvoiceService.markUncollectibleAfterNonpayment(
                            graceDays: config.dunningGraceDays, asOf: asOf, scope: scope, limit: invoiceLimit, now: now,
                            on: db)
                    }
                ),
            ]
        }
        return try run(steps, scope: scope, asOf: asOf, on: db)
    }

    /// Runs each step in batches until one finds nothing left; each batch answers how many
    /// rows it took, at most the step's limit.
    private static func run(
        _ steps: [(limit: Int, body: (inout Summary) throws -> Int)], scope: Scope, asOf: Timestamp, on db: Connection
    ) throws -> Summary {
        var summary = Summary(asOf: asOf)
        for step in steps {
            while true {
                let taken = try batch(on: db, summary: &summary, step.body)
                // A clock's run waits for every row it takes, so a batch short of its limit
                // took the last ones: no empty batch after it (two transactions a step less
                // per shard, measured: a tenth of an advance). The real-time run skips locked
                // rows, so it asks again until a batch finds none.
                if taken == 0 || (scope != .realTime && taken < step.limit) { break }
            }
        }
        return summary
    }

    /// One batch in its own transaction, run again on a retryable failure; its counts join
    /// the summary only once it committed.
    private static func batch(
        on db: Connection, summary: inout Summary, _ body: (inout Summary) throws -> Int
    ) throws -> Int {
        var attempt = 1
        while true {
            var counts = Summary(asOf: summary.asOf)
            do {
                let locked = try db.transaction { try body(&counts) }
                summary.add(counts)
                return locked
            } catch let error as PostgresError where error.isRetryable && attempt < batchAttempts {
                attempt += 1
            }
        }
    }

    /// Renews up to `limit` due subscriptions, writing at most `invoicesPerTransaction`
    /// invoices; returns how many subscriptions it locked (0: nothing is due any more).
    static func renewBatch(
        asOf: Timestamp, now: Timestamp, scope: Scope, config: BillingConfig, limit: Int, summary: inout Summary,
        on db: Connection
    ) throws -> Int {
        let query: SQLQuery
        switch scope {
        case .realTime:
            // Customers and subscriptions are locked together and none is waited for (SKIP
            // LOCKED): the run never holds a subscription while it waits for a customer that
            // a request locked first (the lock order: customer, subscription, counter).
            query = """
                SELECT \(unsafeSQL: SubscriptionService.Due.columns) FROM \(unsafeSQL: SubscriptionService.Due.tables) \
                JOIN customers c ON c.id = s.customer_id \
                WHERE s.test_clock_id IS NULL AND s.status <> 'canceled' AND s.current_period_end <= \(asOf) \
                ORDER BY s.current_period_end LIMIT \(limit) FOR UPDATE OF s, c SKIP LOCKED
                """
        case .clock(let clock, _):
            let customers = try lockCustomersInOrder(
                """
                SELECT customer_id FROM subscriptions WHERE test_clock_id = \(clock) AND status <> 'canceled' \
                AND current_period_end <= \(asOf)\(query: scope.shardCondition("customer_id")) \
                ORDER BY current_period_end LIMIT \(limit)
                """, on: db)
            guard !customers.isEmpty else { return 0 }
            query = """
                SELECT \(unsafeSQL: SubscriptionService.Due.columns) FROM \(unsafeSQL: SubscriptionService.Due.tables) \
                WHERE s.customer_id = ANY(\(SQLArray(customers))::uuid[]) \
                AND s.test_clock_id = \(clock) AND s.status <> 'canceled' AND s.current_period_end <= \(asOf) \
                FOR UPDATE OF s
                """
        }
        let due = try db.query(query).rows.map(SubscriptionService.Due.init(row:))
        guard !due.isEmpty else { return 0 }
        var events = EventLog.Pending(testClockID: scope.testClockID)
        let tally = try SubscriptionService.renew(
            due, asOf: asOf, budget: SubscriptionService.invoicesPerTransaction, events: &events, now: now,
            config: config, on: db)
        try events.append(at: now, on: db)
        summary.invoicesCreated += tally.invoicesCreated
        summary.subscriptionsRenewed += tally.subscriptionsRenewed
        summary.trialsEnded += tally.trialsEnded
        summary.subscriptionsCanceled += tally.subscriptionsCanceled
        // Subscriptions left with periods due (the invoice budget ran out) need another batch.
        return tally.incomplete > 0 ? max(due.count, limit) : due.count
    }

    /// Applies dunning to up to `limit` subscriptions with overdue open invoices; returns
    /// how many it changed (a clock's run: how many customers it took).
    static func dunningBatch(
        asOf: Timestamp, now: Timestamp, scope: Scope, config: BillingConfig, limit: Int, summary: inout Summary,
        on db: Connection
    ) throws -> Int {
        let graceCutoff = asOf.adding(seconds: -Int64(config.dunningGraceDays) * 86_400)
        // Subscriptions with overdue invoices that dunning changes (active ones become
        // past_due, past_due ones past their grace are canceled), $1 `asOf`, $2 the cutoff.
        let binds = [asOf.sqlText, graceCutoff.sqlText]
        let query: SQLQuery
        var taken: Int?
        switch scope {
        case .realTime:
            query = SQLQuery(
                unsafeSQL: """
                    SELECT \(Subscription.qualifiedColumns), d.oldest_due FROM subscriptions s \
                    JOIN customers c ON c.id = s.customer_id JOIN (SELECT subscription_id, min(due_at) AS oldest_due \
                    FROM invoices WHERE status = 'open' AND due_at <= $1 GROUP BY subscription_id) d \
                    ON d.subscription_id = s.id WHERE (s.status = 'active' OR (s.status = 'past_due' AND \
                    d.oldest_due <= $2)) AND (s.pause_behavior IS NULL OR s.pause_resumes_at <= $1) \
                    AND s.test_clock_id IS NULL LIMIT $3 FOR UPDATE OF s, c SKIP LOCKED
                    """, binds: binds + [limit.sqlText])
        case .clock(let clock, _):
            // Read from each side's index rather than aggregating every open invoice (measured:
            // 9–12 ms a step once a clock had 12,000 unpaid invoices, each of its due dates):
            // the clock's active subscriptions with any overdue invoice, and the invoices past
            // their grace (few: dunning cancels their subscriptions) of its past_due ones, from
            // the clock's open invoices by due date (sql/0023). A subscription's invoices are
            // read through their index on `subscription_id` alone (`OFFSET 0` keeps the planner
            // from combining it with the open invoices' index on `due_at`, which statistics that
            // lag behind a clock's thousands of new invoices made it do: 15,000 entries read per
            // subscription, 88 ms for 330).
            let subscriptionInvoices = "(SELECT status, due_at FROM invoices WHERE subscription_id = s.id OFFSET 0) i"
            let shard = scope.shardCondition("s.customer_id")
            let customers = try lockCustomersInOrder(
                """
                SELECT s.customer_id FROM subscriptions s CROSS JOIN LATERAL (SELECT FROM \(unsafeSQL: subscriptionInvoices) \
                WHERE i.status = 'open' AND i.due_at <= \(asOf) LIMIT 1) o \
                WHERE s.test_clock_id = \(clock) AND s.status = 'active' \
                AND (s.pause_behavior IS NULL OR s.pause_resumes_at <= \(asOf))\(query: shard) \
                UNION SELECT s.customer_id FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id \
                WHERE i.test_clock_id = \(clock) AND i.status = 'open' AND i.due_at <= \(graceCutoff) \
                AND s.status = 'past_due' AND (s.pause_behavior IS NULL OR s.pause_resumes_at <= \(asOf))\(query: shard) \
                LIMIT \(limit)
                """, on: db)
            guard !customers.isEmpty else { return 0 }
            taken = customers.count
            query = SQLQuery(
                unsafeSQL: """
                    SELECT \(Subscription.qualifiedColumns), d.oldest_due FROM subscriptions s \
                    CROSS JOIN LATERAL (SELECT min(i.due_at) AS oldest_due FROM \(subscriptionInvoices) \
                    WHERE i.status = 'open' AND i.due_at <= $1) d \
                    WHERE s.customer_id = ANY($3::uuid[]) AND d.oldest_due IS NOT NULL \
                    AND (s.status = 'active' OR (s.status = 'past_due' AND d.oldest_due <= $2)) \
                    AND (s.pause_behavior IS NULL OR s.pause_resumes_at <= $1) FOR UPDATE OF s
                    """, binds: binds + [SQLArray(customers).sqlText])
        }
        let rows = try db.query(query).rows
        var pastDue: [Subscription] = []
        var canceled: [Subscription] = []
        for row in rows {
            var r = RowReader(row)
            let subscription = try Subscription(&r)
            let oldestDue = try r.timestamp()
            switch Dunning.decide(
                status: subscription.status, oldestDue: oldestDue, asOf: asOf, graceDays: config.dunningGraceDays)
            {
            case .markPastDue: pastDue.append(subscription)
            case .cancelForNonpayment: canceled.append(subscription)
            case .none: break
            }
        }
        var events = EventLog.Pending(testClockID: scope.testClockID)
        try SubscriptionService.markPastDue(pastDue.map(\.id), events: &events, now: now, on: db)
        // Their overdue invoices become uncollectible in the run's next step, a bounded
        // number per transaction however many a subscription left open.
        try SubscriptionService.cancelForNonpayment(
            canceled.map(\.id), at: asOf, events: &events, now: now, config: config, on: db)
        try events.append(at: now, on: db)
        summary.markedPastDue += pastDue.count
        summary.subscriptionsCanceled += canceled.count
        return taken ?? pastDue.count + canceled.count
    }

    /// Locks, in id order, the customers whose ids `candidates` selects, and returns them:
    /// a clock's run waits for its customers as requests do, in the same order, so the two
    /// never wait for each other in a cycle.
    static func lockCustomersInOrder(_ candidates: SQLQuery, on db: Connection) throws -> [ID<Customer>] {
        var query = SQLQuery(unsafeSQL: "SELECT id FROM customers WHERE id IN (")
        query.append(candidates)
        query.append(unsafeSQL: ") ORDER BY id FOR UPDATE")
        return try db.query(query).rows.map { row in
            var r = RowReader(row)
            return try r.id()
        }
    }
}
