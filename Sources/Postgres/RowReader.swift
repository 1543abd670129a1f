import Common

/// Reads a row's columns in order, each as the type the caller expects: `var r =
/// RowReader(row)`, then `try r.string()`, `try r.timestamp()`, `r.optionalTimestamp()`, …
/// A NULL or unreadable value where the schema promises one throws a decoding error, so one
/// surprising row costs its request a 500 (logged), never the worker and every request on it.
/// The cursor also counts the columns: a join's next table starts where the last one ended.
public struct RowReader {
    public let row: Row
    /// The next column to read.
    public var column: Int

    @inlinable
    public init(_ row: Row, from column: Int = 0) {
        self.row = row
        self.column = column
    }

    @inlinable
    mutating func next() -> Int {
        defer { column += 1 }
        return column
    }

    @inlinable
    func unreadable(_ column: Int, _ type: String) -> PostgresError {
        PostgresError(kind: .decoding, detail: "column \(column) is NULL or not a \(type)")
    }

    @inlinable
    public mutating func string() throws(PostgresError) -> String {
        let column = next()
        guard let value = row.string(column) else { throw unreadable(column, "string") }
        return value
    }

    @inlinable
    public mutating func optionalString() -> String? { row.string(next()) }

    @inlinable
    public mutating func int64() throws(PostgresError) -> Int64 {
        let column = next()
        guard let value = row.int64(column) else { throw unreadable(column, "bigint") }
        return value
    }

    @inlinable
    public mutating func int() throws(PostgresError) -> Int { Int(try int64()) }

    @inlinable
    public mutating func bool() throws(PostgresError) -> Bool {
        let column = next()
        guard let value = row.bool(column) else { throw unreadable(column, "boolean") }
        return value
    }

    @inlinable
    public mutating func timestamp() throws(PostgresError) -> Timestamp {
        let column = next()
        guard let value = row.timestamp(column) else { throw unreadable(column, "timestamptz") }
        return value
    }

    @inlinable
    public mutating func optionalTimestamp() -> Timestamp? { row.timestamp(next()) }

    @inlinable
    public mutating func id<Entity>(_ entity: Entity.Type = Entity.self) throws(PostgresError) -> ID<Entity> {
        let column = next()
        guard let value = row.id(column, as: entity) else { throw unreadable(column, "uuid") }
        return value
    }

    @inlinable
    public mutating func uuid() throws(PostgresError) -> UUID128 {
        let column = next()
        guard let value = row.uuid(column) else { throw unreadable(column, "uuid") }
        return value
    }

    /// A text column holding one of an enum's raw values (a status, a kind).
    @inlinable
    public mutating func value<Value: RawRepresentable>(_ type: Value.Type = Value.self) throws(PostgresError)
        -> Value where Value.RawValue == String
    {
        let column = next()
        guard let value = row.string(column).flatMap(Value.init(rawValue:)) else {
            throw unreadable(column, "\(Value.self)")
        }
        return value
    }

    /// Skips a column read elsewhere (or not at all).
    @inlinable
    public mutating func skip(_ count: Int = 1) { column += count }
}

/// A value read from a row's columns in order; `init(row:)` reads it from a whole row.
public protocol RowDecodable {
    /// Reads the columns at the reader's cursor, leaving it after them (a join reads on).
    init(_ reader: inout RowReader) throws
}

extension RowDecodable {
    public init(row: Row) throws {
        var reader = RowReader(row)
        try self.init(&reader)
    }
}
