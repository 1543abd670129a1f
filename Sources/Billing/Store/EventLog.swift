import Common
import Postgres

/// Appends events in the caller's transaction and reads them back.
public enum EventLog {
    /// The events of one transaction, collected in cause-then-effect order (a subscription
    /// before the invoice it made, an invoice before the balance it changed) and appended
    /// with one statement once the work is done: receivers see them in the order things
    /// happened, and a transaction costs one round trip for all of them.
    struct Pending {
        private var kinds: [Event.Kind] = []
        /// For each event, the position of its body in `bodies` (from 1): events of one
        /// object in one state share one body (an invoice created finalized and paid).
        private var bodyOf: [Int] = []
        private var bodyCount = 0
        /// The bodies as one JSON array (closed when appended), rendered as each is added.
        private var bodies = JSONWriter(capacity: 2048)
        /// The test clock of the customer they are about, if it is on one.
        var testClockID: ID<TestClock>?

        init(testClockID: ID<TestClock>? = nil) {
            self.testClockID = testClockID
            bodies.beginArray()
        }

        var isEmpty: Bool { kinds.isEmpty }

        mutating func add(_ kind: Event.Kind, _ object: some JSONWritable) { add([kind], object) }

        /// Several events of one object as it now stands, in order, sharing its body.
        mutating func add(_ kinds: [Event.Kind], _ object: some JSONWritable) {
            guard !kinds.isEmpty else { return }
            object.write(to: &bodies)
            bodyCount += 1
            for kind in kinds {
                self.kinds.append(kind)
                bodyOf.append(bodyCount)
            }
        }

        mutating func add(_ kind: Event.Kind, each objects: [some JSONWritable]) {
            for object in objects { add(kind, object) }
        }

        /// Appends the events added so far and starts over: for a transaction that takes the
        /// invoice-number lock, the events known before it are written before it is taken
        /// (measured: the billing run 0.25 → 0.3x of its ceiling); the order stays the same.
        mutating func flush(at time: Timestamp, on db: Connection) throws {
            try append(at: time, on: db)
            self = Pending(testClockID: testClockID)
        }

        /// Appends the events in the order they were added. Their bodies travel as one JSON
        /// array, which needs no escaping here and one parse in PostgreSQL, each body once
        /// however many events share it.
        func append(at time: Timestamp, on db: Connection) throws {
            guard !kinds.isEmpty else { return }
            let rows = self.rows
            try db.query(
                """
                INSERT INTO events (id, type, created_at, test_clock_id, data) \
                SELECT e.id, e.type, \(time), \(testClockID), b.data::text FROM ROWS FROM (unnest(\(rows.ids)::uuid[]), \
                unnest(\(rows.kinds)::text[]), unnest(\(rows.bodyOf)::int[])) WITH ORDINALITY AS e(id, type, body, n) \
                JOIN json_array_elements(\(rows.bodies)::json) WITH ORDINALITY AS b(data, i) ON b.i = e.body \
                ORDER BY e.n
                """)
        }

        /// The events of one object's body (all of them share it) as statement parameters:
        /// their ids, their types and that body (no events: empty arrays, a null body).
        var rowsOfOneBody: (ids: SQLArray, kinds: SQLArray, body: String?) {
            precondition(bodyCount <= 1, "the events have more than one body")
            // The bodies' array is still open: its first byte is "[", the rest is the body.
            let body = bodyCount == 0 ? nil : String(decoding: bodies.bytes.dropFirst(), as: UTF8.self)
            return (SQLArray(ID<Event>.generate(count: kinds.count)), SQLArray(kinds) { $0.rawValue }, body)
        }

        /// The events as statement parameters: their ids, types, the position of each one's
        /// body (from 1), and the bodies as one JSON array.
        var rows: (ids: SQLArray, kinds: SQLArray, bodyOf: SQLArray, bodies: String) {
            var array = bodies
            array.endArray()
            return (
                SQLArray(ID<Event>.generate(count: kinds.count)), SQLArray(kinds) { $0.rawValue }, SQLArray(bodyOf),
                String(decoding: array.bytes, as: UTF8.self)
            )
        }
    }

    /// Appends the one event of a transaction that has no other.
    static func append(
        _ kind: Event.Kind, _ object: some JSONWritable, at time: Timestamp, testClockID: ID<TestClock>? = nil,
        on db: Connection
    ) throws {
        try db.query(
            """
            INSERT INTO events (id, type, created_at, test_clock_id, data) \
            VALUES (\(ID<Event>.generate()), \(kind.rawValue), \(time), \(testClockID), \(object.jsonString))
            """)
    }

    public static func get(_ id: ID<Event>, on db: Connection) throws -> Event {
        guard let row = try db.query("SELECT \(unsafeSQL: Event.columns) FROM events WHERE id = \(id)").first else {
            throw BillingError.notFound("no such event")
        }
        return try Event(row: row)
    }

    public static func list(type: String?, page: PageRequest, on db: Connection) throws -> Page<Event> {
        var query = ListQuery(table: "events", columns: Event.columns)
        query.filter("type", type)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Event.init(row:))
    }
}
