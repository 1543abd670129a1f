import Common
import Postgres

/// Stored responses of requests sent with an `Idempotency-Key`, scoped to an API key.
///
/// Concurrency rests on PostgreSQL: the request's transaction first takes a
/// transaction-scoped advisory lock on (API key, Idempotency-Key). A concurrent retry
/// cannot take it and is told the first is still running; the lock is released only at
/// commit, after the response row is visible, so a later retry always finds it. A worker
/// that dies mid-request rolls back and releases both.
public enum IdempotencyStore {
    public struct Stored: Sendable {
        public var method: String
        public var path: String
        public var requestHash: [UInt8]
        public var status: Int
        public var body: String
    }

    /// Tries the advisory lock for this key in the current transaction.
    public static func tryLock(apiKeyID: UUID128, key: String, on db: Connection) throws -> Bool {
        let digest = SHA256.hash(Array((apiKeyID.description + "\u{1F}" + key).utf8))
        var lockID: Int64 = 0
        for byte in digest.prefix(8) { lockID = lockID << 8 | Int64(byte) }
        return try db.query("SELECT pg_try_advisory_xact_lock(\(lockID)::bigint)").first?.bool(0) ?? false
    }

    public static func find(apiKeyID: UUID128, key: String, on db: Connection) throws -> Stored? {
        guard
            let row = try db.query(
                """
                SELECT request_method, request_path, encode(request_hash, 'hex'), response_status, response_body \
                FROM idempotency_keys WHERE api_key_id = \(apiKeyID) AND key = \(key)
                """
            ).first
        else { return nil }
        var r = RowReader(row)
        return Stored(
            method: try r.string(), path: try r.string(), requestHash: bytes(fromHex: try r.string()) ?? [],
            status: try r.int(),
            body: try r.string())
    }

    public static func save(
        apiKeyID: UUID128, key: String, method: String, path: String, requestHash: [UInt8], status: Int,
        body: [UInt8], now: Timestamp, on db: Connection
    ) throws {
        try db.query(
            """
            INSERT INTO idempotency_keys (api_key_id, key, request_method, request_path, request_hash, \
            response_status, response_body, created_at) VALUES (\(apiKeyID), \(key), \(method), \(path), \
            \(SQLBytes(requestHash)), \(status), \(String(decoding: body, as: UTF8.self)), \(now)) \
            ON CONFLICT (api_key_id, key) DO NOTHING
            """)
    }
}
