import Common
import Postgres

/// Usage events (`usage.md`): a batch is validated whole, then stored in one statement that
/// counts each event once, forever, per customer (the unique key of `usage_event_ids`
/// decides, also between concurrent requests), and adds it to the running totals of the
/// window it falls in, so that current usage and billing read totals, never events.
public enum UsageEventService {
    public struct Input: Sendable {
        public var id: String
        public var meter: String
        public var customerID: ID<Customer>
        public var timestamp: Timestamp?
        public var properties: [JSONMember]
        public init(
            id: String, meter: String, customerID: ID<Customer>, timestamp: Timestamp?, properties: [JSONMember]
        ) {
            self.id = id
            self.meter = meter
            self.customerID = customerID
            self.timestamp = timestamp
            self.properties = properties
        }
    }

    public struct Outcome: Equatable, Sendable, JSONWritable {
        public var accepted: Int
        public var duplicates: Int
        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("accepted", accepted)
            json.field("duplicates", duplicates)
            json.endObject()
        }
    }

    /// The batch was refused: each problem names its event by index (`events[3].timestamp`).
    public struct Refusal: Error, Sendable {
        public var problems: [(field: String, message: String)]
    }

    public static let maximumBatch = 1000
    /// How far ahead of its customer's now, and how far back, an event's timestamp may be.
    public static let maximumAhead: Int64 = 5 * 60
    public static let maximumBack: Int64 = 35 * 86_400
    /// |value| < 10^15, as 10^-12 units.
    static let valueLimit = Int128(1_000_000_000_000_000) * ExactDecimal.scale

    /// An event ready to store: its meter's value or unique value read, and the window of
    /// the subscription it counts for (none: stored and billed by nothing).
    struct Resolved {
        var input: Input
        var meter: Meter
        var timestamp: Timestamp
        var value: ExactDecimal?
        var uniqueValue: String?
        var window: (subscription: ID<Subscription>, start: Timestamp, plan: ID<Plan>)?
    }

    public static func ingest(_ batch: [Input], now: Timestamp, on db: Connection) throws -> Outcome {
        var problems: [(field: String, message: String)] = []
        func refuse(_ index: Int, _ field: String, _ message: String) {
            problems.append(("events[\(index)].\(field)", message))
        }
        let meters = try MeterService.byCode(Array(Set(batch.map(\.meter))), on: db)
        let customers = try customerTimes(Array(Set(batch.map(\.customerID))), now: now, on: db)
        var resolved: [Resolved] = []
        resolved.reserveCapacity(batch.count)
        for (index, event) in batch.enumerated() {
            guard let meter = meters[event.meter] else {
                refuse(index, "meter", "no such meter: \(event.meter)")
                continue
            }
            guard meter.isActive else {
                refuse(index, "meter", "the meter \(event.meter) is not active")
                continue
            }
            guard let customerNow = customers[event.customerID] else {
                refuse(index, "customer_id", "no such customer")
                continue
            }
            let timestamp = event.timestamp ?? customerNow
            if timestamp > customerNow.adding(seconds: maximumAhead) {
                refuse(index, "timestamp", "is more than 5 minutes ahead of the customer's now (\(customerNow))")
                continue
            }
            if timestamp < customerNow.adding(seconds: -maximumBack) {
                refuse(index, "timestamp", "is more than 35 days before the customer's now (\(customerNow))")
                continue
            }
            var value: ExactDecimal?
            if let property = meter.valueProperty {
                switch event.properties.first(where: { $0.key == property })?.value {
                case nil:
                    refuse(index, "properties.\(property)", "is required by the meter \(meter.code)")
                    continue
                case let member?:
                    guard let number = decimal(member), number.scaled.magnitude < valueLimit.magnitude else {
                        refuse(
                            index, "properties.\(property)",
                            "must be a finite number or decimal string, |value| < 10^15, with at most 12 decimals")
                        continue
                    }
                    value = number
                }
            }
            var unique: String?
            if let property = meter.uniqueProperty {
                switch event.properties.first(where: { $0.key == property })?.value {
                case .string(let text)?, .number(let text)?:
                    unique = text
                case nil:
                    refuse(index, "properties.\(property)", "is required by the meter \(meter.code)")
                    continue
                case let other?:
                    refuse(index, "properties.\(property)", "must be a string or a number, not \(other.typeName)")
                    continue
                }
            }
            resolved.append(
                Resolved(input: event, meter: meter, timestamp: timestamp, value: value, uniqueValue: unique))
        }
        guard problems.isEmpty else { throw Refusal(problems: problems) }

        // The windows the events count for, read under a share lock of their subscriptions:
        // a renewal or the finalization of a window (which lock them for update) comes
        // wholly before or after this batch, so an event counts in exactly one period.
        let windows = try UsageWindows.open(for: Array(customers.keys), on: db)
        for index in resolved.indices {
            let event = resolved[index]
            switch windows.place(event.timestamp, meter: event.meter.id, customer: event.input.customerID) {
            case .counted(let subscription, let start, let plan): resolved[index].window = (subscription, start, plan)
            case .notBilled: break
            case .closed(let reason): refuse(index, "timestamp", reason)
            }
        }
        guard problems.isEmpty else { throw Refusal(problems: problems) }
        let (outcome, totals) = try store(resolved, now: now, on: db)
        try checkPriceable(totals, of: resolved, on: db)
        return outcome
    }

    /// Refuses the batch (its statement is undone with the request) when a window's totals
    /// as they now stand would price past a line's limit: the billing run could never
    /// invoice it. Checked here, where totals grow, under the totals rows' locks, so that
    /// concurrent batches add up to a priceable window too.
    private static func checkPriceable(
        _ totals: [(key: UsageBilling.TotalsKey, totals: UsageBilling.Totals)], of events: [Resolved],
        on db: Connection
    ) throws {
        guard !totals.isEmpty else { return }
        for (key, total) in totals {
            guard
                let index = events.firstIndex(where: {
                    $0.window?.subscription == key.subscription && $0.window?.start == key.start
                        && $0.meter.id == key.meter
                }), let plan = events[index].window?.plan
            else { continue }
            let meter = events[index].meter
            for charge in try UsageCatalog.charges(of: plan, on: db) where charge.meterID == meter.id {
                if charge.amount(for: total.quantity(meter)) == nil {
                    throw Refusal(problems: [
                        (
                            "events[\(index)].meter",
                            "the usage of the meter \(meter.code) in this period would price past a line's limit (10^12)"
                        )
                    ])
                }
            }
        }
    }

    /// Creates the monthly partitions of `usage_events` that events of now can fall in (35
    /// days back, the next two months ahead) where they are missing: a statement that finds
    /// them all present changes nothing.
    public static func ensurePartitions(around now: Timestamp, on db: Connection) throws {
        try db.query(
            """
            SELECT ensure_usage_event_partitions(\(now.adding(seconds: -maximumBack))::timestamptz, \
            \(now.adding(seconds: 62 * 86_400))::timestamptz)
            """)
    }

    /// A value property: a JSON number or a decimal string, exactly.
    static func decimal(_ value: JSONValue) -> ExactDecimal? {
        switch value {
        case .number(let text): ExactDecimal(jsonNumber: text)
        case .string(let text): ExactDecimal(parsing: text)
        default: nil
        }
    }

    /// The now of each existing customer: its test clock's time, or `now`.
    private static func customerTimes(_ ids: [ID<Customer>], now: Timestamp, on db: Connection) throws -> [ID<
        Customer
    >: Timestamp] {
        var times: [ID<Customer>: Timestamp] = [:]
        for row in try db.query(
            """
            SELECT c.id, t.frozen_time FROM customers c LEFT JOIN test_clocks t ON t.id = c.test_clock_id \
            WHERE c.id = ANY(\(SQLArray(ids))::uuid[])
            """
        ).rows {
            var r = RowReader(row)
            let id: ID<Customer> = try r.id()
            times[id] = r.optionalTimestamp() ?? now
        }
        return times
    }

    /// Stores the new events and adds them to their windows' totals, in one statement.
    /// Ids already stored (before, concurrently, or earlier in this batch) are duplicates.
    /// Keys are inserted in key order and totals updated in key order, so that concurrent
    /// batches never wait for each other in a cycle.
    /// Returns the outcome and the new totals of every window the batch added to.
    private static func store(_ events: [Resolved], now: Timestamp, on db: Connection) throws -> (
        Outcome, [(key: UsageBilling.TotalsKey, totals: UsageBilling.Totals)]
    ) {
        var seen = Set<String>()
        let unique = events.filter { seen.insert("\($0.input.customerID) \($0.input.id)").inserted }
        let rows = try db.query(
            """
            WITH v AS (SELECT * FROM unnest(\(SQLArray(unique) { $0.input.customerID })::uuid[], \
            \(SQLArray(unique) { $0.input.id })::text[], \(SQLArray(unique) { $0.meter.id })::uuid[], \
            \(SQLArray(unique) { $0.timestamp })::timestamptz[], \(SQLArray(unique) { propertiesText($0.input) })::text[], \
            \(SQLArray(unique) { $0.value?.description })::numeric[], \(SQLArray(unique) { $0.uniqueValue })::text[], \
            \(SQLArray(unique) { $0.window?.subscription })::uuid[], \(SQLArray(unique) { $0.window?.start })::timestamptz[]) \
            WITH ORDINALITY AS v(customer_id, id, meter_id, ts, properties, value, unique_value, subscription_id, \
            window_start, n)), \
            k AS (INSERT INTO usage_event_ids (customer_id, id) SELECT customer_id, id FROM v ORDER BY customer_id, id \
            ON CONFLICT DO NOTHING RETURNING customer_id, id), \
            e AS (INSERT INTO usage_events (customer_id, id, meter_id, "timestamp", properties, value, received_at, \
            subscription_id, window_start) \
            SELECT v.customer_id, v.id, v.meter_id, v.ts, v.properties, v.value, \(now), v.subscription_id, \
            v.window_start FROM v \
            JOIN k ON k.customer_id = v.customer_id AND k.id = v.id ORDER BY v.n \
            RETURNING customer_id, id, arrival), \
            f AS (SELECT v.*, e.arrival FROM v JOIN e ON e.customer_id = v.customer_id AND e.id = v.id \
            WHERE v.subscription_id IS NOT NULL), \
            u AS (INSERT INTO usage_unique_values (customer_id, subscription_id, window_start, meter_id, value) \
            SELECT DISTINCT customer_id, subscription_id, window_start, meter_id, unique_value FROM f \
            WHERE unique_value IS NOT NULL ORDER BY 1, 2, 3, 4, 5 ON CONFLICT DO NOTHING \
            RETURNING customer_id, subscription_id, window_start, meter_id), \
            uc AS (SELECT customer_id, subscription_id, window_start, meter_id, count(*) AS added FROM u \
            GROUP BY 1, 2, 3, 4), \
            a AS (SELECT customer_id, subscription_id, window_start, meter_id, count(*) AS event_count, \
            coalesce(sum(value), 0) AS value_sum, max(value) AS value_max, \
            (array_agg(value ORDER BY ts DESC, arrival DESC))[1] AS latest_value, max(ts) AS latest_at, \
            (array_agg(arrival ORDER BY ts DESC, arrival DESC))[1] AS latest_arrival FROM f GROUP BY 1, 2, 3, 4), \
            t AS (INSERT INTO usage_totals AS t (customer_id, subscription_id, window_start, meter_id, event_count, \
            value_sum, value_max, latest_value, latest_at, latest_arrival, unique_count) \
            SELECT a.customer_id, a.subscription_id, a.window_start, a.meter_id, a.event_count, a.value_sum, a.value_max, \
            a.latest_value, a.latest_at, a.latest_arrival, coalesce(uc.added, 0) FROM a LEFT JOIN uc \
            ON uc.customer_id = a.customer_id AND uc.subscription_id = a.subscription_id \
            AND uc.window_start = a.window_start AND uc.meter_id = a.meter_id ORDER BY 1, 2, 3, 4 \
            ON CONFLICT (customer_id, subscription_id, window_start, meter_id) DO UPDATE SET \
            event_count = t.event_count + excluded.event_count, value_sum = t.value_sum + excluded.value_sum, \
            value_max = greatest(t.value_max, excluded.value_max), \
            latest_value = CASE WHEN (excluded.latest_at, excluded.latest_arrival) > (t.latest_at, t.latest_arrival) \
            OR t.latest_at IS NULL THEN excluded.latest_value ELSE t.latest_value END, \
            latest_arrival = CASE WHEN (excluded.latest_at, excluded.latest_arrival) > (t.latest_at, t.latest_arrival) \
            OR t.latest_at IS NULL THEN excluded.latest_arrival ELSE t.latest_arrival END, \
            latest_at = greatest(t.latest_at, excluded.latest_at), \
            unique_count = t.unique_count + excluded.unique_count \
            RETURNING t.subscription_id, t.window_start, t.meter_id, \(unsafeSQL: UsageBilling.Totals.columns)) \
            SELECT (SELECT count(*) FROM e), t.* FROM (SELECT) one LEFT JOIN t ON true
            """)
        var r = RowReader(rows[0])
        let accepted = Int(try r.int64())
        let totals = try rows.rows.filter { !$0.isNull(1) }.map { row in
            var r = RowReader(row)
            r.column = 1
            return (
                key: UsageBilling.TotalsKey(try r.id(), try r.timestamp(), try r.id()),
                totals: try UsageBilling.Totals(&r)
            )
        }
        return (Outcome(accepted: accepted, duplicates: events.count - accepted), totals)
    }

    /// The properties as the JSON object they came as.
    private static func propertiesText(_ event: Input) -> String {
        var json = JSONWriter(capacity: 64)
        json.value(JSONValue.object(event.properties))
        return String(decoding: json.bytes, as: UTF8.self)
    }
}

/// A stored usage event, as `GET /usage-events` lists it.
public struct UsageEvent: Sendable, JSONWritable {
    public var id: String
    public var meter: String
    public var customerID: ID<Customer>
    public var timestamp: Timestamp
    public var properties: JSONValue
    public var receivedAt: Timestamp
    var arrival: Int64

    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("meter", meter)
        json.field("customer_id", customerID)
        json.field("timestamp", timestamp)
        json.key("properties")
        json.value(properties)
        json.field("received_at", receivedAt)
        json.endObject()
    }
}

extension UsageEventService {
    public struct Filter: Sendable {
        public var customerID: ID<Customer>
        public var meter: String?
        public var from: Timestamp?
        public var to: Timestamp?
        public init(customerID: ID<Customer>, meter: String?, from: Timestamp?, to: Timestamp?) {
            self.customerID = customerID
            self.meter = meter
            self.from = from
            self.to = to
        }
    }

    /// A customer's events, newest arrival first, `from ≤ timestamp < to`; the cursor is the
    /// last one's place in the order of arrival (event ids are unique per customer only).
    public static func list(_ filter: Filter, limit: Int, after cursor: String?, on db: Connection) throws -> Page<
        UsageEvent
    > {
        var before: Int64?
        if let cursor {
            guard let arrival = Int64(cursor), arrival > 0 else {
                throw BillingError.invalid(field: "starting_after", message: "must be a next_cursor of this list")
            }
            before = arrival
        }
        let rows = try db.query(
            """
            SELECT e.id, m.code, e.customer_id, e."timestamp", e.properties, e.received_at, e.arrival \
            FROM usage_events e JOIN meters m ON m.id = e.meter_id WHERE e.customer_id = \(filter.customerID) \
            AND (\(filter.meter)::text IS NULL OR m.code = \(filter.meter)) \
            AND (\(filter.from)::timestamptz IS NULL OR e."timestamp" >= \(filter.from)) \
            AND (\(filter.to)::timestamptz IS NULL OR e."timestamp" < \(filter.to)) \
            AND (\(before)::bigint IS NULL OR e.arrival < \(before)) ORDER BY e.arrival DESC LIMIT \(limit + 1)
            """
        ).rows.map { row in
            var r = RowReader(row)
            let id = try r.string()
            let meter = try r.string()
            let customer: ID<Customer> = try r.id()
            let timestamp = try r.timestamp()
            let properties = try JSONParser.parse(Array(try r.string().utf8))
            return UsageEvent(
                id: id, meter: meter, customerID: customer, timestamp: timestamp, properties: properties,
                receivedAt: try r.timestamp(), arrival: try r.int64())
        }
        if rows.isEmpty, try db.query("SELECT 1 FROM customers WHERE id = \(filter.customerID)").rowCount == 0 {
            throw BillingError.notFound("no such customer")
        }
        return Page(rows: rows, limit: limit, cursor: { String($0.arrival) })
    }
}
