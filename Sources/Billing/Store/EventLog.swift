import Common
import Postgres

/// Appends events in the caller's transaction and reads them back.
public enum EventLog {
    static func append(_ kind: Event.Kind, _ object: some JSONWritable, at time: Timestamp, on db: Connection) throws {
        try db.query(
            """
            INSERT INTO events (id, type, created_at, data) \
            VALUES (\(ID<Event>.generate()), \(kind.rawValue), \(time), \(object.jsonString)::json)
            """)
    }

    /// Appends many events in one statement, in order. Their bodies travel as one JSON
    /// array, which needs no escaping here and one parse in PostgreSQL.
    static func append<Object: JSONWritable>(_ events: [(Event.Kind, Object)], at time: Timestamp, on db: Connection)
        throws
    {
        guard !events.isEmpty else { return }
        if events.count == 1 { return try append(events[0].0, events[0].1, at: time, on: db) }
        var bodies = JSONWriter(capacity: events.count * 1024)
        bodies.beginArray()
        for (_, object) in events { object.write(to: &bodies) }
        bodies.endArray()
        try db.query(
            """
            INSERT INTO events (id, type, created_at, data) \
            SELECT id, type, \(time), data FROM ROWS FROM (unnest(\(SQLArray(ID<Event>.generate(count: events.count)))::uuid[]), \
            unnest(\(SQLArray(events) { $0.0.rawValue })::text[]), \
            json_array_elements(\(String(decoding: bodies.bytes, as: UTF8.self))::json)) \
            WITH ORDINALITY AS e(id, type, data, n) ORDER BY n
            """)
    }

    public static func list(type: String?, page: PageRequest, on db: Connection) throws -> Page<Event> {
        var query = ListQuery(table: "events", columns: Event.columns)
        query.filter("type", type)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Event.init(row:))
    }
}
