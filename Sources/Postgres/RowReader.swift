import Common

/// Reads a row's columns in order, each as the type the caller expects: `var r =
/// RowReader(row)`, then `try r.string()`, `try r.timestamp()`, `r.optionalTimestamp()`, …
/// A NULL or unreadable value where the schema promises one throws a decoding error, so one
/// surprising row costs its request a 500 (logged), never the worker and every request on it.
/// The cursor also counts the columns: a join's next table starts where the last one ended.
public struct RowReader {
    public let row: Row
    /// The next column to read.
    public var column = 0

    @inlinable
    public init(_ row: Row) { self.row = row }

    /// The next column as `read` takes it from the row; nil there is a decoding error.
    @inlinable
    mutating func next<Value>(_ type: StaticString, _ read: (Row, Int) -> Value?) throws(PostgresError) -> Value {
        defer { column += 1 }
        guard let value = read(row, column) else {
            throw PostgresError(kind: .decoding, detail: "column \(column) is NULL or not a \(type)")
        }
        return value
    }

    @inlinable
    public mutating func string() throws(PostgresError) -> String { try next("string") { $0.string($1) } }

    @inlinable
    public mutating func int64() throws(PostgresError) -> Int64 { try next("bigint") { $0.int64($1) } }

    @inlinable
    public mutating func int() throws(PostgresError) -> Int { Int(try int64()) }

    @inlinable
    public mutating func bool() throws(PostgresError) -> Bool { try next("boolean") { $0.bool($1) } }

    @inlinable
    public mutating func timestamp() throws(PostgresError) -> Timestamp {
        try next("timestamptz") { $0.timestamp($1) }
    }

    @inlinable
    public mutating func uuid() throws(PostgresError) -> UUID128 { try next("uuid") { $0.uuid($1) } }

    @inlinable
    public mutating func id<Entity>(_ entity: Entity.Type = Entity.self) throws(PostgresError) -> ID<Entity> {
        ID(try uuid())
    }

    /// A text column holding one of an enum's raw values (a status, a kind).
    @inlinable
    public mutating func value<Value: RawRepresentable>(_ type: Value.Type = Value.self) throws(PostgresError)
        -> Value where Value.RawValue == String
    {
        try next("known value") { $0.string($1).flatMap(Value.init(rawValue:)) }
    }

    /// A nullable text column of an enum's raw values: nil for NULL (or a value it lacks).
    @inlinable
    public mutating func optionalValue<Value: RawRepresentable>(_ type: Value.Type = Value.self) -> Value?
    where Value.RawValue == String {
        optionalString().flatMap(Value.init(rawValue:))
    }

    @inlinable
    public mutating func optionalString() -> String? {
        defer { column += 1 }
        return row.string(column)
    }

    @inlinable
    public mutating func optionalTimestamp() -> Timestamp? {
        defer { column += 1 }
        return row.timestamp(column)
    }

    @inlinable
    public mutating func optionalInt64() -> Int64? {
        defer { column += 1 }
        return row.int64(column)
    }

    @inlinable
    public mutating func optionalInt() -> Int? { optionalInt64().map { Int($0) } }

    /// A `uuid[]` column, `{…,…}` in text form (uuids need no quoting).
    public mutating func ids<Entity>(_ entity: Entity.Type = Entity.self) throws(PostgresError) -> [ID<Entity>] {
        let text = try string()
        guard text.hasPrefix("{"), text.hasSuffix("}") else {
            throw PostgresError(kind: .decoding, detail: "column \(column - 1) is not an array")
        }
        var ids: [ID<Entity>] = []
        for element in text.dropFirst().dropLast().split(separator: ",") {
            guard let id = ID<Entity>(parsing: element) else {
                throw PostgresError(kind: .decoding, detail: "column \(column - 1) holds a non-uuid")
            }
            ids.append(id)
        }
        return ids
    }

    @inlinable
    public mutating func optionalID<Entity>(_ entity: Entity.Type = Entity.self) -> ID<Entity>? {
        defer { column += 1 }
        return row.uuid(column).map { ID($0) }
    }
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
