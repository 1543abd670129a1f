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

    public static func list(type: String?, page: PageRequest, on db: Connection) throws -> Page<Event> {
        var query = ListQuery(table: "events", columns: Event.columns)
        query.filter("type", type)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Event.init(row:))
    }
}
