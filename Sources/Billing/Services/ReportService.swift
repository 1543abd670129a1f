import Common
import Postgres

/// Reports (documents.md), computed by PostgreSQL from the stored facts, per currency, in
/// minor units. MRR comes from `subscription_states` (sql/0021): each subscription's state
/// as its events tell it, in business time, its MRR an exact fraction; sums stay exact over
/// a common denominator and are rounded once, half away from zero (`minor_units`).
public enum ReportService {
    /// At most this many buckets per report (a year of days and then some).
    public static let maxBuckets = 366

    /// `[start, end)` in UTC: from `from`, one `interval` at a time (a month keeps the day
    /// of `from`, or the month's last), the last one ending at `to`.
    public struct Buckets: Sendable {
        public var from: Timestamp
        public var to: Timestamp
        public var interval: BillingInterval.Unit
        public var starts: [Timestamp] = []
        public var ends: [Timestamp] = []

        /// Nil when there would be more than `maxBuckets`; `from` must be before `to`.
        public init?(from: Timestamp, to: Timestamp, interval: BillingInterval.Unit) {
            self.from = from
            self.to = to
            self.interval = interval
            let schedule = BillingSchedule(anchor: from, interval: BillingInterval(unit: interval, count: 1))
            var start = from
            while start < to {
                guard starts.count < ReportService.maxBuckets else { return nil }
                let end = min(schedule.boundary(starts.count + 1), to)
                starts.append(start)
                ends.append(end)
                start = end
            }
        }

        var startArray: SQLArray { SQLArray(starts) { $0 } }
        var endArray: SQLArray { SQLArray(ends) { $0 } }
    }

    // MARK: MRR

    public struct MRR: Sendable, JSONWritable {
        public var asOf: Timestamp
        var currencies: [CurrencyFigures]

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("as_of", asOf)
            CurrencyFigures.write(currencies, names: ["mrr_cents", "subscriptions"], to: &json)
            json.endObject()
        }
    }

    /// Every live (`active`, `past_due`) subscription's state at `asOf` (its latest change at
    /// or before it), its MRR summed exactly per currency and rounded once.
    public static func mrr(asOf: Timestamp, on db: Connection) throws -> MRR {
        let rows = try db.query(
            """
            WITH live AS (
                SELECT DISTINCT ON (subscription_id) currency, status, mrr_numerator, mrr_denominator::numeric AS d \
                FROM subscription_states WHERE at <= \(asOf) ORDER BY subscription_id, event_seq DESC), \
            paying AS (SELECT * FROM live WHERE status IN ('active', 'past_due')), \
            common AS (SELECT lcm_agg(DISTINCT d) AS l FROM paying) \
            SELECT currency, minor_units(sum(mrr_numerator * (common.l / d)), common.l)::bigint, count(*) \
            FROM paying, common GROUP BY currency, common.l ORDER BY currency
            """
        ).rows
        return MRR(asOf: asOf, currencies: try rows.map { try CurrencyFigures($0, count: 2) })
    }

    // MARK: Bucketed reports

    /// A bucketed answer: `{"from", "to", "interval", "buckets": [{"start", "end", …}]}`.
    public struct Bucketed: Sendable, JSONWritable {
        public var buckets: Buckets
        /// Each bucket's fields after `start` and `end`, already written.
        public var fields: [[UInt8]]

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("from", buckets.from)
            json.field("to", buckets.to)
            json.field("interval", buckets.interval.rawValue)
            json.key("buckets")
            json.beginArray()
            for index in buckets.starts.indices {
                json.beginObject()
                json.field("start", buckets.starts[index])
                json.field("end", buckets.ends[index])
                json.rawMembers(fields[index])
                json.endObject()
            }
            json.endArray()
            json.endObject()
        }
    }

    /// Writes per-currency figures under `"currencies"` for each bucket, from rows of
    /// (bucket number from 1, currency, figures in `names`' order).
    static func perCurrency(_ rows: [Row], names: [String], buckets: Buckets) throws -> Bucketed {
        var byBucket = [[CurrencyFigures]](repeating: [], count: buckets.starts.count)
        for row in rows {
            guard let bucket = row.int(0).map({ $0 - 1 }), byBucket.indices.contains(bucket) else { continue }
            byBucket[bucket].append(try CurrencyFigures(row.dropping(1), count: names.count))
        }
        return Bucketed(
            buckets: buckets,
            fields: byBucket.map { currencies in
                var json = JSONWriter(capacity: 64 + 96 * currencies.count)
                CurrencyFigures.write(currencies, names: names, to: &json)
                return json.bytes
            })
    }

    /// The buckets as a relation `b(start_at, end_at, n)`, and `edges`, their starts and the
    /// last end in one array (for `width_bucket`).
    static func bucketsCTE(_ buckets: Buckets) -> SQLQuery {
        """
        b AS (SELECT * FROM unnest(\(buckets.startArray)::timestamptz[], \(buckets.endArray)::timestamptz[]) \
        WITH ORDINALITY AS b(start_at, end_at, n)), \
        edges AS (SELECT array_agg(start_at ORDER BY n) || max(end_at) AS t FROM b)
        """
    }

    /// Per bucket and currency: finalized totals (invoices not voided), payments, issued
    /// credit notes, each by its own time in `[start, end)`; and what was open and still to
    /// pay at the bucket's end (or now, for a bucket that has not ended).
    public static func revenue(_ buckets: Buckets, now: Timestamp, on db: Connection) throws -> Bucketed {
        let rows = try db.query(
            """
            WITH \(query: bucketsCTE(buckets)), \
            invoiced AS (SELECT width_bucket(finalized_at, edges.t) AS n, currency, sum(total_cents) AS v \
                FROM invoices, edges WHERE finalized_at IS NOT NULL AND status <> 'void' GROUP BY 1, 2), \
            paid AS (SELECT width_bucket(p.paid_at, edges.t) AS n, i.currency, sum(p.amount_cents) AS v \
                FROM payments p JOIN invoices i ON i.id = p.invoice_id, edges GROUP BY 1, 2), \
            credited AS (SELECT width_bucket(c.created_at, edges.t) AS n, i.currency, sum(c.amount_cents) AS v \
                FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id, edges WHERE c.status = 'issued' GROUP BY 1, 2), \
            uncollectible AS (SELECT (data::jsonb->>'id')::uuid AS id, min(created_at) AS at FROM events \
                WHERE type = 'invoice.marked_uncollectible' GROUP BY 1), \
            outstanding AS (SELECT b.n, i.currency, sum(i.amount_cents \
                    - coalesce((SELECT sum(p.amount_cents) FROM payments p WHERE p.invoice_id = i.id AND p.paid_at <= t.t), 0) \
                    - coalesce((SELECT sum(c.remainder_amount_cents) FROM credit_notes c WHERE c.invoice_id = i.id \
                        AND c.created_at <= t.t AND (c.voided_at IS NULL OR c.voided_at > t.t)), 0)) AS v \
                FROM b CROSS JOIN LATERAL (SELECT least(b.end_at, \(now)::timestamptz) AS t) t \
                JOIN invoices i ON i.finalized_at <= t.t AND (i.paid_at IS NULL OR i.paid_at > t.t) \
                    AND (i.voided_at IS NULL OR i.voided_at > t.t) AND i.status <> 'draft' \
                LEFT JOIN uncollectible u ON u.id = i.id \
                WHERE u.at IS NULL OR u.at > t.t GROUP BY 1, 2), \
            keys AS (SELECT n, currency FROM invoiced UNION SELECT n, currency FROM paid \
                UNION SELECT n, currency FROM credited UNION SELECT n, currency FROM outstanding) \
            SELECT k.n, k.currency, coalesce(i.v, 0)::bigint, coalesce(p.v, 0)::bigint, coalesce(c.v, 0)::bigint, \
                coalesce(o.v, 0)::bigint \
            FROM keys k LEFT JOIN invoiced i USING (n, currency) LEFT JOIN paid p USING (n, currency) \
            LEFT JOIN credited c USING (n, currency) LEFT JOIN outstanding o USING (n, currency) \
            WHERE k.n BETWEEN 1 AND \(buckets.starts.count) ORDER BY k.n, k.currency
            """
        ).rows
        return try perCurrency(
            rows, names: ["invoiced_cents", "paid_cents", "credited_cents", "outstanding_cents"], buckets: buckets)
    }

    /// Per bucket and currency, MRR at the bucket's start and end (as `mrr` reports it at
    /// those instants) and every customer's change between them, by kind: `new` (their
    /// first MRR ever), `reactivated` (MRR again after none), `expansion`, `contraction`,
    /// `churned` (to none). A change at an instant belongs to the bucket that ends at or
    /// after it: `(start, end]`, as MRR at `end` includes it. Each kind is rounded so that
    /// `mrr_end = mrr_start + Σ movements` holds exactly: each is the change in the rounded
    /// running total as the kinds are added in that order.
    public static func mrrMovements(_ buckets: Buckets, on db: Connection) throws -> Bucketed {
        let rows = try db.query(
            """
            WITH \(query: bucketsCTE(buckets)), \
            common AS (SELECT lcm_agg(d) AS l FROM (SELECT DISTINCT mrr_denominator::numeric AS d FROM subscription_states) x), \
            valued AS (SELECT s.subscription_id, s.customer_id, s.currency, s.at, s.event_seq, \
                s.mrr_numerator * (common.l / s.mrr_denominator) AS v FROM subscription_states s, common \
                WHERE s.at <= (SELECT max(end_at) FROM b)), \
            deltas AS (SELECT *, v - coalesce(lag(v) OVER (PARTITION BY subscription_id ORDER BY event_seq), 0) AS delta \
                FROM valued), \
            running AS (SELECT d.*, \
                sum(delta) OVER (PARTITION BY customer_id, currency ORDER BY at, event_seq) AS total, \
                min(at) FILTER (WHERE v > 0) OVER (PARTITION BY customer_id, currency) AS first_paying_at, \
                width_bucket(at - interval '1 microsecond', edges.t) AS n FROM deltas d, edges), \
            customers AS (SELECT n, customer_id, currency, min(first_paying_at) AS first_paying_at, \
                (array_agg(total - delta ORDER BY at, event_seq))[1] AS v0, \
                (array_agg(total ORDER BY at DESC, event_seq DESC))[1] AS v1 \
                FROM running WHERE n BETWEEN 1 AND \(buckets.starts.count) GROUP BY 1, 2, 3), \
            kinds AS (SELECT c.n, c.currency, c.v1 - c.v0 AS change, \
                CASE WHEN c.v0 = 0 AND c.v1 > 0 THEN CASE WHEN c.first_paying_at > b.start_at THEN 'new' ELSE 'reactivated' END \
                    WHEN c.v0 > 0 AND c.v1 = 0 THEN 'churned' \
                    WHEN c.v1 > c.v0 THEN 'expansion' WHEN c.v1 < c.v0 THEN 'contraction' END AS kind \
                FROM customers c JOIN b USING (n)), \
            sums AS (SELECT n, currency, sum(change) AS total, \
                coalesce(sum(change) FILTER (WHERE kind = 'new'), 0) AS new, \
                coalesce(sum(change) FILTER (WHERE kind = 'expansion'), 0) AS expansion, \
                coalesce(sum(change) FILTER (WHERE kind = 'contraction'), 0) AS contraction, \
                coalesce(sum(change) FILTER (WHERE kind = 'churned'), 0) AS churned, \
                coalesce(sum(change) FILTER (WHERE kind = 'reactivated'), 0) AS reactivated FROM kinds GROUP BY 1, 2), \
            initial AS (SELECT currency, sum(delta) AS v FROM running WHERE n = 0 GROUP BY 1), \
            currencies AS (SELECT currency FROM initial UNION SELECT currency FROM sums), \
            grid AS (SELECT b.n, c.currency, coalesce(i.v, 0) + coalesce(sum(coalesce(s.total, 0)) OVER ( \
                    PARTITION BY c.currency ORDER BY b.n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS s0, \
                coalesce(s.new, 0) AS new, coalesce(s.expansion, 0) AS expansion, \
                coalesce(s.contraction, 0) AS contraction, coalesce(s.churned, 0) AS churned, \
                coalesce(s.reactivated, 0) AS reactivated \
                FROM b CROSS JOIN currencies c LEFT JOIN sums s ON s.n = b.n AND s.currency = c.currency \
                LEFT JOIN initial i ON i.currency = c.currency), \
            steps AS (SELECT n, currency, minor_units(s0, l) AS m0, minor_units(s0 + new, l) AS m1, \
                minor_units(s0 + new + expansion, l) AS m2, minor_units(s0 + new + expansion + contraction, l) AS m3, \
                minor_units(s0 + new + expansion + contraction + churned, l) AS m4, \
                minor_units(s0 + new + expansion + contraction + churned + reactivated, l) AS m5 \
                FROM grid, (SELECT l FROM common) c) \
            SELECT n, currency, m0::bigint, (m1 - m0)::bigint, (m2 - m1)::bigint, (m3 - m2)::bigint, \
                (m4 - m3)::bigint, (m5 - m4)::bigint, m5::bigint FROM steps ORDER BY n, currency
            """
        ).rows
        return try perCurrency(
            rows,
            names: [
                "mrr_start_cents", "new", "expansion", "contraction", "churned", "reactivated", "mrr_end_cents",
            ], buckets: buckets)
    }

    /// Per bucket: subscriptions started and canceled (by reason) in `[start, end)`, those
    /// live (trialing, active, past due) at its start and end, and the churn rate, canceled
    /// ÷ live at the start, to 4 decimals half away from zero ("0.0000" when none were live).
    public static func subscriptions(_ buckets: Buckets, on db: Connection) throws -> Bucketed {
        let rows = try db.query(
            """
            WITH \(query: bucketsCTE(buckets)), \
            lives AS (SELECT subscription_id, min(at) AS started_at, \
                min(at) FILTER (WHERE status = 'canceled') AS ended_at, \
                (array_agg(coalesce(cancellation_reason, 'requested') ORDER BY event_seq) \
                    FILTER (WHERE status = 'canceled'))[1] AS reason \
                FROM subscription_states GROUP BY 1), \
            counted AS (SELECT b.n, \
                count(*) FILTER (WHERE l.started_at >= b.start_at AND l.started_at < b.end_at) AS new, \
                count(*) FILTER (WHERE l.ended_at >= b.start_at AND l.ended_at < b.end_at AND l.reason = 'requested') AS requested, \
                count(*) FILTER (WHERE l.ended_at >= b.start_at AND l.ended_at < b.end_at AND l.reason = 'nonpayment') AS nonpayment, \
                count(*) FILTER (WHERE l.started_at <= b.start_at AND (l.ended_at IS NULL OR l.ended_at > b.start_at)) AS at_start, \
                count(*) FILTER (WHERE l.started_at <= b.end_at AND (l.ended_at IS NULL OR l.ended_at > b.end_at)) AS at_end \
                FROM b LEFT JOIN lives l ON l.started_at <= b.end_at AND (l.ended_at IS NULL OR l.ended_at >= b.start_at) \
                GROUP BY b.n) \
            SELECT n, new, requested, nonpayment, at_start, at_end, \
                CASE WHEN at_start = 0 THEN '0.0000' ELSE round((requested + nonpayment)::numeric / at_start, 4)::text END \
            FROM counted ORDER BY n
            """
        ).rows
        var fields = [[UInt8]](repeating: [], count: buckets.starts.count)
        for row in rows {
            var r = RowReader(row)
            let bucket = try r.int() - 1
            guard fields.indices.contains(bucket) else { continue }
            var json = JSONWriter(capacity: 160)
            json.field("new", try r.int64())
            json.key("canceled")
            json.beginObject()
            json.field("requested", try r.int64())
            json.field("nonpayment", try r.int64())
            json.endObject()
            json.field("active_at_start", try r.int64())
            json.field("active_at_end", try r.int64())
            json.field("churn_rate", try r.string())
            fields[bucket] = json.bytes
        }
        return Bucketed(buckets: buckets, fields: fields)
    }

    // MARK: Overdue

    /// What is open and overdue (`due_at` passed) per currency at `now`, and the customers
    /// owing the longest, each with the hosted page of their oldest overdue invoice.
    public struct Overdue: Sendable, JSONWritable {
        public var asOf: Timestamp
        var currencies: [CurrencyFigures]
        var customers: [Customer]

        struct Customer {
            var id: UUID128
            var name: String
            var email: String
            var currency: String
            var overdue: Int64
            var invoices: Int64
            var oldestDueAt: Timestamp
            var oldestNumber: String
            var oldestToken: String
        }

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("as_of", asOf)
            CurrencyFigures.write(
                currencies, names: ["open_cents", "overdue_cents", "overdue_invoices"], to: &json)
            json.key("customers")
            json.beginArray()
            for customer in customers {
                json.beginObject()
                json.field("customer_id", customer.id)
                json.field("name", customer.name)
                json.field("email", customer.email)
                json.field("currency", customer.currency)
                json.field("overdue_cents", customer.overdue)
                json.field("overdue_invoices", customer.invoices)
                json.field("oldest_due_at", customer.oldestDueAt)
                json.field("days_overdue", (asOf.epochSeconds - customer.oldestDueAt.epochSeconds) / 86_400)
                json.field("oldest_invoice_number", customer.oldestNumber)
                json.field(
                    "hosted_invoice_url", DocumentSettings.shared.publicURL + "/i/" + customer.oldestToken)
                json.endObject()
            }
            json.endArray()
            json.endObject()
        }
    }

    /// `currency` narrows the customers (not the amounts) to those owing in it.
    public static func overdue(now: Timestamp, currency: String?, limit: Int, on db: Connection) throws -> Overdue {
        let results = try db.query(
            """
            SELECT 0 AS part, currency, sum(amount_remaining_cents)::bigint, \
                coalesce(sum(amount_remaining_cents) FILTER (WHERE due_at < \(now)), 0)::bigint, \
                count(*) FILTER (WHERE due_at < \(now)), NULL, NULL, NULL, NULL, NULL, NULL \
            FROM invoices WHERE status = 'open' GROUP BY currency \
            UNION ALL (SELECT 1, o.currency, o.overdue, 0, o.n, o.customer_id::text, c.name, c.email, o.oldest::text, \
                o.number, o.token FROM ( \
                    SELECT customer_id, currency, sum(amount_remaining_cents)::bigint AS overdue, count(*) AS n, \
                    min(due_at) AS oldest, (array_agg(number ORDER BY due_at, seq))[1] AS number, \
                    (array_agg(hosted_token ORDER BY due_at, seq))[1] AS token \
                    FROM invoices WHERE status = 'open' AND due_at < \(now) \
                    AND (\(currency)::text IS NULL OR currency = \(currency)) GROUP BY 1, 2) o \
                JOIN customers c ON c.id = o.customer_id ORDER BY o.oldest, o.customer_id LIMIT \(limit)) \
            ORDER BY 1, 2
            """
        ).rows
        var report = Overdue(asOf: now, currencies: [], customers: [])
        for row in results {
            var r = RowReader(row)
            let part = try r.int()
            let currency = try r.string()
            let amount = try r.int64()
            let overdue = try r.int64()
            let count = try r.int64()
            if part == 0 {
                report.currencies.append(CurrencyFigures(currency: currency, values: [amount, overdue, count]))
            } else {
                report.customers.append(
                    Overdue.Customer(
                        id: try r.uuid(), name: try r.string(), email: try r.string(), currency: currency,
                        overdue: amount, invoices: count, oldestDueAt: try r.timestamp(), oldestNumber: try r.string(),
                        oldestToken: try r.string()))
            }
        }
        // The outer ORDER BY groups the parts; the customers go back to oldest debt first.
        report.customers.sort { ($0.oldestDueAt, $0.id.description) < ($1.oldestDueAt, $1.id.description) }
        return report
    }
}

/// A report's figures in one currency, written as one of `"currencies": [{"currency", …}]`.
struct CurrencyFigures {
    var currency: String
    var values: [Int64]

    init(currency: String, values: [Int64]) {
        self.currency = currency
        self.values = values
    }

    /// Reads the currency and `count` integers at the start of `row`.
    init(_ row: Row, count: Int) throws {
        var r = RowReader(row)
        currency = try r.string()
        values = try (0..<count).map { _ in try r.int64() }
    }

    /// `"currencies": [...]`, each row's values under `names`, in order.
    static func write(_ rows: [CurrencyFigures], names: [String], to json: inout JSONWriter) {
        json.key("currencies")
        json.beginArray()
        for row in rows {
            json.beginObject()
            json.field("currency", row.currency)
            for (name, value) in zip(names, row.values) { json.field(name, value) }
            json.endObject()
        }
        json.endArray()
    }
}
