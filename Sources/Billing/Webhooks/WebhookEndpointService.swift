import Common
import Postgres

/// Webhook endpoints (`webhooks.md`): registered, changed, rotated and deleted. The URL is
/// checked here (scheme, form, and every address its host resolves to now); the sender
/// checks the address it connects to again at every attempt.
public enum WebhookEndpointService {
    public struct Create: Sendable {
        public var url: String
        public var enabledEvents: [String]
        public var description: String?
        public init(url: String, enabledEvents: [String], description: String?) {
            self.url = url
            self.enabledEvents = enabledEvents
            self.description = description
        }
    }

    public struct Update: Sendable {
        public var url: String?
        public var enabledEvents: [String]?
        public var description: String?
        public var disabled: Bool?
        public init(url: String?, enabledEvents: [String]?, description: String?, disabled: Bool?) {
            self.url = url
            self.enabledEvents = enabledEvents
            self.description = description
            self.disabled = disabled
        }
    }

    /// The event types an endpoint may ask for, and `*` for all.
    public static let eventTypes = Set(Event.Kind.allCases.map(\.rawValue))

    /// Refuses a URL the sender would refuse (422 naming `url`): not `https://` (or
    /// `http://` when allowed), credentials in it, over 2048 characters, or a host that is
    /// or resolves to a refused address.
    public static func checkURL(_ url: String, settings: WebhookSettings) throws {
        func refuse(_ message: String) -> BillingError { .invalid(field: "url", message: message) }
        guard url.count <= 2048 else { throw refuse("must be at most 2048 characters") }
        guard let parsed = WebhookAddress.parse(url) else {
            throw refuse("must be an absolute https:// URL with a host, without credentials or a fragment")
        }
        guard parsed.scheme == "https" || settings.allowHTTP else {
            throw refuse("must use https:// (http:// only with WEBHOOK_ALLOW_HTTP=1)")
        }
        // A host that does not resolve yet is taken: every attempt checks again anyway.
        let addresses = WebhookAddress.resolve(parsed.host)
        guard settings.allowPrivate || addresses.allSatisfy(WebhookAddress.isAllowed) else {
            throw refuse(
                "its host resolves to a loopback, private, link-local or otherwise reserved address, which is refused")
        }
    }

    /// `*` alone, or known event types (a 422 naming `enabled_events`).
    public static func checkEventTypes(_ types: [String]) throws {
        func refuse(_ message: String) -> BillingError { .invalid(field: "enabled_events", message: message) }
        guard !types.isEmpty else { throw refuse("must name at least one event type, or \"*\"") }
        guard types.count <= 100 else { throw refuse("must have at most 100 types") }
        if types.contains("*") {
            guard types == ["*"] else { throw refuse("\"*\" stands alone") }
            return
        }
        if let unknown = types.first(where: { !eventTypes.contains($0) }) {
            throw refuse("unknown event type \(unknown)")
        }
        guard Set(types).count == types.count else { throw refuse("must not repeat a type") }
    }

    /// `whsec_` and 32 random bytes from the system's generator, base64url.
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return "whsec_" + Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    public static func create(_ input: Create, now: Timestamp, settings: WebhookSettings, on db: Connection) throws
        -> WebhookEndpoint
    {
        try checkEventTypes(input.enabledEvents)
        try checkURL(input.url, settings: settings)
        let secret = newSecret()
        var endpoint = try WebhookEndpoint(
            row: try db.query(
                """
                INSERT INTO webhook_endpoints (id, url, enabled_events, description, secret, created_at, updated_at) \
                VALUES (\(ID<WebhookEndpoint>.generate()), \(input.url), \(SQLArray(input.enabledEvents))::text[], \
                \(input.description), \(secret), \(now), \(now)) RETURNING \(unsafeSQL: WebhookEndpoint.columns)
                """)[0])
        try EventLog.append(.webhookEndpointCreated, endpoint, at: now, on: db)
        endpoint.secret = secret
        return endpoint
    }

    public static func get(_ id: ID<WebhookEndpoint>, on db: Connection) throws -> WebhookEndpoint {
        guard
            let row = try db.query(
                """
                SELECT \(unsafeSQL: WebhookEndpoint.columns) FROM webhook_endpoints \
                WHERE id = \(id) AND deleted_at IS NULL
                """
            ).first
        else { throw BillingError.notFound("no such webhook endpoint") }
        return try WebhookEndpoint(row: row)
    }

    public static func list(page: PageRequest, on db: Connection) throws -> Page<WebhookEndpoint> {
        var query = ListQuery(table: "webhook_endpoints", columns: WebhookEndpoint.columns)
        query.condition("deleted_at IS NULL")
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: WebhookEndpoint.init(row:))
    }

    /// Locks a live endpoint for a change.
    private static func lock(_ id: ID<WebhookEndpoint>, on db: Connection) throws {
        guard
            try db.query("SELECT 1 FROM webhook_endpoints WHERE id = \(id) AND deleted_at IS NULL FOR UPDATE").first
                != nil
        else { throw BillingError.notFound("no such webhook endpoint") }
    }

    public static func update(
        _ id: ID<WebhookEndpoint>, _ input: Update, now: Timestamp, settings: WebhookSettings, on db: Connection
    ) throws -> WebhookEndpoint {
        if let types = input.enabledEvents { try checkEventTypes(types) }
        if let url = input.url { try checkURL(url, settings: settings) }
        try lock(id, on: db)
        // Enabled again: its failures so far no longer count towards disabling it.
        let endpoint = try WebhookEndpoint(
            row: try db.query(
                """
                UPDATE webhook_endpoints SET url = coalesce(\(input.url), url), \
                enabled_events = coalesce(\(input.enabledEvents.map { SQLArray($0) })::text[], enabled_events), \
                description = coalesce(\(input.description), description), \
                disabled_reason = CASE WHEN \(input.disabled)::boolean IS NULL THEN disabled_reason \
                WHEN \(input.disabled)::boolean THEN 'requested' END, \
                failing_since = CASE WHEN \(input.disabled)::boolean = false THEN NULL ELSE failing_since END, \
                updated_at = \(now) WHERE id = \(id) RETURNING \(unsafeSQL: WebhookEndpoint.columns)
                """)[0])
        try EventLog.append(.webhookEndpointUpdated, endpoint, at: now, on: db)
        return endpoint
    }

    /// Deletes an endpoint: later reads are 404, and its pending deliveries fail now.
    public static func delete(_ id: ID<WebhookEndpoint>, now: Timestamp, on db: Connection) throws -> WebhookEndpoint {
        try lock(id, on: db)
        let endpoint = try WebhookEndpoint(
            row: try db.query(
                """
                UPDATE webhook_endpoints SET deleted_at = \(now), updated_at = \(now) WHERE id = \(id) \
                RETURNING \(unsafeSQL: WebhookEndpoint.columns)
                """)[0])
        try db.query(
            """
            UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, leased_until = NULL, \
            last_error = 'endpoint deleted' WHERE endpoint_id = \(id) AND status = 'pending'
            """)
        try EventLog.append(.webhookEndpointDeleted, endpoint, at: now, on: db)
        return endpoint
    }

    /// A new secret; the current one keeps signing (a second signature) for
    /// `expireOldAfter` seconds, and a secret older than that is dropped at once: never
    /// more than two.
    public static func rotateSecret(
        _ id: ID<WebhookEndpoint>, expireOldAfter: Int, now: Timestamp, on db: Connection
    ) throws -> WebhookEndpoint {
        try lock(id, on: db)
        let secret = newSecret()
        let keepOld = expireOldAfter > 0
        var endpoint = try WebhookEndpoint(
            row: try db.query(
                """
                UPDATE webhook_endpoints SET \
                previous_secret = CASE WHEN \(keepOld) THEN secret END, \
                previous_secret_expires_at = CASE WHEN \(keepOld) THEN \(now.adding(seconds: Int64(expireOldAfter)))::timestamptz END, \
                secret = \(secret), updated_at = \(now) WHERE id = \(id) RETURNING \(unsafeSQL: WebhookEndpoint.columns)
                """)[0])
        try EventLog.append(.webhookEndpointUpdated, endpoint, at: now, on: db)
        endpoint.secret = secret
        return endpoint
    }
}
