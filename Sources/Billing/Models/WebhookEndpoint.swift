import Common
import Postgres

/// Where events are delivered (`webhooks.md`). Its secret signs every delivery and is shown
/// only in the answers that create or rotate it: never in a read, a list, an event or a log.
public struct WebhookEndpoint: Equatable, Sendable, RowDecodable {
    public enum DisabledReason: String, Sendable {
        case requested, failing
    }

    public var id: ID<WebhookEndpoint>
    public var url: String
    /// Event types, or `["*"]` for all.
    public var enabledEvents: [String]
    public var description: String?
    public var disabledReason: DisabledReason?
    public var createdAt: Timestamp
    /// Set only on the answers of creation and rotation.
    public var secret: String?

    public var disabled: Bool { disabledReason != nil }

    /// Event types hold only `a-z`, `_`, `.` and `*`: a comma never occurs in one.
    static let columns =
        "id, url, array_to_string(enabled_events, ','), description, disabled_reason, created_at"

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        url = try r.string()
        enabledEvents = try r.string().split(separator: ",").map(String.init)
        description = r.optionalString()
        disabledReason = r.optionalString().flatMap(DisabledReason.init(rawValue:))
        createdAt = try r.timestamp()
    }
}

extension WebhookEndpoint: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("url", url)
        json.key("enabled_events")
        json.beginArray()
        for type in enabledEvents { json.value(type) }
        json.endArray()
        json.field("description", description)
        json.field("disabled", disabled)
        json.field("disabled_reason", disabledReason?.rawValue)
        if let secret { json.field("secret", secret) }
        json.field("created_at", createdAt)
        json.endObject()
    }
}

/// One event for one endpoint, attempted until it succeeds or its schedule runs out.
public struct WebhookDelivery: Equatable, Sendable, RowDecodable {
    public enum Status: String, Sendable, CaseIterable {
        case pending, succeeded, failed
    }

    public var id: ID<WebhookDelivery>
    public var endpointID: ID<WebhookEndpoint>
    public var eventID: ID<Event>
    public var eventType: String
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Timestamp?
    public var lastAttemptAt: Timestamp?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var lastResponseExcerpt: String?
    public var createdAt: Timestamp
    public var succeededAt: Timestamp?

    static let columns = """
        id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, last_attempt_at, \
        last_status_code, last_error, last_response_excerpt, created_at, succeeded_at
        """

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        endpointID = try r.id()
        eventID = try r.id()
        eventType = try r.string()
        status = try r.value()
        attempts = try r.int()
        nextAttemptAt = r.optionalTimestamp()
        lastAttemptAt = r.optionalTimestamp()
        lastStatusCode = r.optionalInt()
        lastError = r.optionalString()
        lastResponseExcerpt = r.optionalString()
        createdAt = try r.timestamp()
        succeededAt = r.optionalTimestamp()
    }
}

extension WebhookDelivery: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("endpoint_id", endpointID)
        json.field("event_id", eventID)
        json.field("event_type", eventType)
        json.field("status", status.rawValue)
        json.field("attempts", Int64(attempts))
        json.field("next_attempt_at", nextAttemptAt)
        json.field("last_attempt_at", lastAttemptAt)
        json.field("last_status_code", lastStatusCode.map(Int64.init))
        json.field("last_error", lastError)
        json.field("last_response_excerpt", lastResponseExcerpt)
        json.field("created_at", createdAt)
        json.field("succeeded_at", succeededAt)
        json.endObject()
    }
}
