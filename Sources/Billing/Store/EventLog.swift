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
        /// The bodies as one JSON array (closed when appended), rendered as each is added.
        private var bodies = JSONWriter(capacity: 2048)

        init() { bodies.beginArray() }

        var isEmpty: Bool { kinds.isEmpty }

        mutating func add(_ kind: Event.Kind, _ object: some JSONWritable) {
            kinds.append(kind)
            object.write(to: &bodies)
        }

        mutating func add(_ kind: Event.Kind, each objects: [some JSONWritable]) {
            for object in objects { add(kind, object) }
        }

        /// Appends the events added so far and starts over: for a transaction that takes the
        /// invoice-number lock, the events known before it are written before it is taken
        /// (measured: the billing run 0.25 → 0.3x of its ceiling); the order stays the same.
        mutating func flush(at time: Timestamp, on db: Connection) throws {
            try append(at: time, on: db)
            self = Pending()
        }

        /// Appends the events in the order they were added. Their bodies travel as one JSON
        /// array, which needs no escaping here and one parse in PostgreSQL.
        func append(at time: Timestamp, on db: Connection) throws {
            guard !kinds.isEmpty else { return }
            var array = bodies
            array.endArray()
            try db.query(
                """
                INSERT INTO events (id, type, created_at, data) \
                SELECT id, type, \(time), data FROM ROWS FROM (unnest(\(SQLArray(ID<Event>.generate(count: kinds.count)))::uuid[]), \
                unnest(\(SQLArray(kinds) { $0.rawValue })::text[]), \
                json_array_elements(\(String(decoding: array.bytes, as: UTF8.self))::json)) \
                WITH ORDINALITY AS e(id, type, data, n) ORDER BY n
                """)
        }
    }

    /// Appends the one event of a transaction that has no other.
    static func append(_ kind: Event.Kind, _ object: some JSONWritable, at time: Timestamp, on db: Connection) throws {
        try db.query(
            """
            INSERT INTO events (id, type, created_at, data) \
            VALUES (\(ID<Event>.generate()), \(kind.rawValue), \(time), \(object.jsonString)::json)
            """)
    }

    public static func list(type: String?, page: PageRequest, on db: Connection) throws -> Page<Event> {
        var query = ListQuery(table: "events", columns: Event.columns)
        query.filter("type", type)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Event.init(row:))
    }
}
