import Common
import Postgres

/// A test clock (`time.md`, Stripe's): the time its customers live at, moved only by
/// advancing it.
public struct TestClock: Equatable, Sendable, RowDecodable {
    public enum Status: String, Sendable {
        case ready, advancing
    }

    public var id: ID<TestClock>
    public var name: String
    public var frozenTime: Timestamp
    public var status: Status
    /// Where an advance is going, while it runs.
    public var advancingTo: Timestamp?
    public var createdAt: Timestamp

    static let columns = "id, name, frozen_time, status, advancing_to, created_at"

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        name = try r.string()
        frozenTime = try r.timestamp()
        status = try r.value()
        advancingTo = r.optionalTimestamp()
        createdAt = try r.timestamp()
    }
}

extension TestClock: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("name", name)
        json.field("frozen_time", frozenTime)
        json.field("status", status.rawValue)
        json.field("created_at", createdAt)
        json.endObject()
    }
}
