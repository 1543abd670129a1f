import Billing
import Common
import HTTP
import Logging
import Postgres

#if canImport(Glibc)
    import Glibc
#endif

/// What one worker thread owns: its database connection and its API-key cache. Never
/// shared between threads, so nothing in it needs a lock.
public final class APIContext {
    public let conninfo: String
    public let config: BillingConfig
    private let baseLogger: Logger
    /// The request being served, named in every line logged for it.
    public var requestID = ""
    /// Built only when something is logged: most requests log nothing.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "request_id"] = .string(requestID)
        return logger
    }
    /// Called for every database failure a request meets (the pool counts them).
    public var onDatabaseError: (() -> Void)?
    private var connection: Connection?
    /// Verified keys by their secret, so that a cached check costs no hashing either; the
    /// secrets stay in this thread's memory only, the database holds their hashes.
    private var authCache: [String: (keyID: UUID128, expiresAt: Int64)] = [:]
    /// How long a verified API key is trusted without asking PostgreSQL again; a revoked
    /// key stops working within this time.
    public static let authCacheSeconds: Int64 = 5

    public init(conninfo: String, config: BillingConfig, logger: Logger) {
        self.conninfo = conninfo
        self.config = config
        self.baseLogger = logger
    }

    /// The thread's connection, (re)connected on demand; unreachable PostgreSQL is a 503.
    public func database() throws -> Connection {
        try reachingDatabase { () throws(PostgresError) -> Connection in
            if let connection {
                try connection.reconnectIfNeeded()
                return connection
            }
            let connection = try Connection(conninfo: conninfo)
            self.connection = connection
            return connection
        }
    }

    /// A connection of its own for work beside the thread's (closed when it is released);
    /// unreachable PostgreSQL is a 503.
    public func extraConnection() throws -> Connection {
        try reachingDatabase { () throws(PostgresError) -> Connection in try Connection(conninfo: conninfo) }
    }

    private func reachingDatabase(_ connect: () throws(PostgresError) -> Connection) throws -> Connection {
        do {
            return try connect()
        } catch {
            onDatabaseError?()
            logger.warning("database unavailable", metadata: ["error": "\(error.detail)"])
            throw Problem.serviceUnavailable("the database is unavailable")
        }
    }

    /// Closes the thread's connection (the next request opens another), with the buffers
    /// libpq grew for the largest statement it sent.
    public func releaseDatabase() { connection = nil }

    /// Hands the connection the result of the next request's first statement, fetched
    /// ahead by `API.prefetch` (nil: none).
    func use(_ prefetched: PrefetchedStatement?) { connection?.use(prefetched) }

    /// The id of the API key sent as `Authorization: Bearer`, or a 401.
    func authenticate(_ request: HTTPRequest) throws -> UUID128 {
        guard let token = request.bearerToken, token.utf8.count <= 256 else { throw Problem.unauthorized }
        let now = Clock.monotonicNanos() / 1_000_000_000
        if let cached = authCache[token], cached.expiresAt > now { return cached.keyID }
        guard let keyID = try APIKeyStore.authenticate(hash: APIKeyStore.hash(secret: token), on: database()) else {
            authCache[token] = nil
            throw Problem.unauthorized
        }
        if authCache.count > 1000 { authCache.removeAll() }
        authCache[token] = (keyID, now + Self.authCacheSeconds)
        return keyID
    }
}
