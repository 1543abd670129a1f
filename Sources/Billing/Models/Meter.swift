import Common
import Postgres

/// What usage events of one kind add up to (`usage.md`, Stripe's meters, Lago's billable
/// metrics). Its aggregation and properties never change once created.
public struct Meter: Equatable, Sendable, RowDecodable {
    public enum Aggregation: String, Sendable, CaseIterable {
        case count, sum, max
        case uniqueCount = "unique_count"
        case latest

        /// Whether events carry a value in `value_property`.
        public var needsValue: Bool { self == .sum || self == .max || self == .latest }
    }

    public var id: ID<Meter>
    public var code: String
    public var name: String
    public var aggregation: Aggregation
    public var valueProperty: String?
    public var uniqueProperty: String?
    public var isActive: Bool
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    static let columns = """
        id, code, name, aggregation, value_property, unique_property, is_active, created_at, updated_at
        """

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        code = try r.string()
        name = try r.string()
        aggregation = try r.value()
        valueProperty = r.optionalString()
        uniqueProperty = r.optionalString()
        isActive = try r.bool()
        createdAt = try r.timestamp()
        updatedAt = try r.timestamp()
    }
}

extension Meter: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("code", code)
        json.field("name", name)
        json.field("aggregation", aggregation.rawValue)
        json.field("value_property", valueProperty)
        json.field("unique_property", uniqueProperty)
        json.field("is_active", isActive)
        json.field("created_at", createdAt)
        json.field("updated_at", updatedAt)
        json.endObject()
    }
}
