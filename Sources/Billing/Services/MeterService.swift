import Common
import Postgres

/// Meters (`usage.md`): created, read, renamed and switched off; their aggregation and
/// properties never change.
public enum MeterService {
    public struct Create: Sendable {
        public var code: String
        public var name: String
        public var aggregation: Meter.Aggregation
        public var valueProperty: String?
        public var uniqueProperty: String?
        public init(
            code: String, name: String, aggregation: Meter.Aggregation, valueProperty: String?, uniqueProperty: String?
        ) {
            self.code = code
            self.name = name
            self.aggregation = aggregation
            self.valueProperty = valueProperty
            self.uniqueProperty = uniqueProperty
        }
    }

    public struct Update: Sendable {
        public var name: String?
        public var isActive: Bool?
        public init(name: String?, isActive: Bool?) {
            self.name = name
            self.isActive = isActive
        }
    }

    public static func create(_ input: Create, now: Timestamp, on db: Connection) throws -> Meter {
        let rows = try mapUniqueViolation(to: .conflict("a meter with this code already exists", slug: "code-taken")) {
            try db.query(
                """
                INSERT INTO meters (id, code, name, aggregation, value_property, unique_property, created_at, \
                updated_at) VALUES (\(ID<Meter>.generate()), \(input.code), \(input.name), \
                \(input.aggregation.rawValue), \(input.valueProperty), \(input.uniqueProperty), \(now), \(now)) \
                RETURNING \(unsafeSQL: Meter.columns)
                """)
        }
        let meter = try Meter(row: rows[0])
        try EventLog.append(.meterCreated, meter, at: now, on: db)
        return meter
    }

    public static func get(_ id: ID<Meter>, on db: Connection) throws -> Meter {
        guard let row = try db.query("SELECT \(unsafeSQL: Meter.columns) FROM meters WHERE id = \(id)").first
        else { throw BillingError.notFound("no such meter") }
        return try Meter(row: row)
    }

    public static func list(isActive: Bool?, page: PageRequest, on db: Connection) throws -> Page<Meter> {
        var query = ListQuery(table: "meters", columns: Meter.columns)
        query.filter("is_active", isActive)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Meter.init(row:))
    }

    public static func update(_ id: ID<Meter>, _ input: Update, now: Timestamp, on db: Connection) throws -> Meter {
        guard
            let row = try db.query(
                """
                UPDATE meters SET name = coalesce(\(input.name), name), is_active = coalesce(\(input.isActive), is_active), \
                updated_at = \(now) WHERE id = \(id) RETURNING \(unsafeSQL: Meter.columns)
                """
            ).first
        else { throw BillingError.notFound("no such meter") }
        let meter = try Meter(row: row)
        try EventLog.append(.meterUpdated, meter, at: now, on: db)
        return meter
    }

    /// The meters of `codes` that exist, by code (one statement for a batch of events).
    static func byCode(_ codes: [String], on db: Connection) throws -> [String: Meter] {
        Dictionary(
            try meters("code = ANY(\(SQLArray(codes))::text[])", on: db).map { ($0.code, $0) },
            uniquingKeysWith: { first, _ in first })
    }

    /// The meters of `ids` (those that exist), by id.
    static func byID(_ ids: [ID<Meter>], on db: Connection) throws -> [ID<Meter>: Meter] {
        guard !ids.isEmpty else { return [:] }
        return Dictionary(
            try meters("id = ANY(\(SQLArray(ids))::uuid[])", on: db).map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first })
    }

    private static func meters(_ condition: SQLQuery, on db: Connection) throws -> [Meter] {
        var query = SQLQuery(unsafeSQL: "SELECT \(Meter.columns) FROM meters WHERE ")
        query.append(condition)
        return try db.query(query).rows.map(Meter.init(row:))
    }
}
