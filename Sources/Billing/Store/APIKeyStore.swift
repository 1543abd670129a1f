import Common
import Postgres

/// API keys: the secret is shown once at creation and stored only as its SHA-256 hash
/// (the secret has 192 random bits, so an unsalted fast hash is what GitHub and Stripe
/// use for tokens too).
public enum APIKeyStore {
    public struct Key: Sendable, JSONWritable {
        public var id: UUID128
        public var name: String
        public var prefix: String
        public var createdAt: Timestamp
        public var revokedAt: Timestamp?

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("id", id)
            json.field("name", name)
            json.field("prefix", prefix)
            json.field("created_at", createdAt)
            json.field("revoked_at", revokedAt)
            json.endObject()
        }
    }

    public static func hash(secret: String) -> [UInt8] { SHA256.hash(Array(secret.utf8)) }

    /// Creates a key and returns it with its secret, which is not stored.
    public static func create(name: String, now: Timestamp, on db: Connection) throws -> (Key, secret: String) {
        var generator = SystemRandomNumberGenerator()
        var random: [UInt8] = []
        for _ in 0..<48 { random.append(hexDigit(UInt8(truncatingIfNeeded: generator.next() & 0xF))) }
        let secret = "bk_" + String(decoding: random, as: UTF8.self)
        let key = Key(id: UUID128.v7(), name: name, prefix: String(secret.prefix(11)), createdAt: now, revokedAt: nil)
        try db.query(
            """
            INSERT INTO api_keys (id, name, prefix, secret_hash, created_at) \
            VALUES (\(key.id), \(key.name), \(key.prefix), \(SQLBytes(hash(secret: secret))), \(now))
            """)
        return (key, secret)
    }

    public static func list(on db: Connection) throws -> [Key] {
        try db.query("SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at, id").rows.map {
            row in
            var r = RowReader(row)
            return Key(
                id: try r.uuid(), name: try r.string(), prefix: try r.string(), createdAt: try r.timestamp(),
                revokedAt: r.optionalTimestamp())
        }
    }

    /// Revokes the key with this id or prefix; returns how many keys were revoked.
    public static func revoke(_ idOrPrefix: String, now: Timestamp, on db: Connection) throws -> Int {
        let id = UUID128(parsing: idOrPrefix)
        return try db.query(
            """
            UPDATE api_keys SET revoked_at = \(now) \
            WHERE (id = \(id)::uuid OR prefix = \(idOrPrefix)) AND revoked_at IS NULL
            """
        ).affectedRows
    }

    /// The id of the active key whose secret hashes to `hash`, if any.
    public static func authenticate(hash: [UInt8], on db: Connection) throws -> UUID128? {
        try db.query("SELECT id FROM api_keys WHERE secret_hash = \(SQLBytes(hash)) AND revoked_at IS NULL").first?
            .uuid(0)
    }
}
