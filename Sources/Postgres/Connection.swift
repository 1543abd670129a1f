import CLibPQ
import Common

/// One libpq connection, owned by exactly one thread. Statements are prepared once
/// per connection on first use and executed with text parameters only.
public final class Connection {
    var handle: OpaquePointer?
    private let conninfo: String
    var statementNames: [String: String] = [:]
    /// Whether a `BEGIN` is open, so that a lost connection is reported instead of retried.
    public private(set) var inTransaction = false
    /// Whether statements run (`off`) or are recorded by `firstStatement(of:)`.
    var recording = Recording.off
    /// A result fetched ahead for the next statement, used only if that statement is the same.
    var prefetched: PrefetchedStatement?

    /// Connects with a libpq connection string or URL (`postgresql://…`, `host=… dbname=…`).
    /// The session always uses UTC and ISO dates, which `Timestamp` parses.
    public init(conninfo: String) throws(PostgresError) {
        self.conninfo = conninfo
        try connect()
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    private func connect() throws(PostgresError) {
        drop()
        inTransaction = false
        // NULL-terminated, as PQconnectdbParams requires.
        let keywords: [String?] = ["dbname", "options", "application_name", "connect_timeout", nil]
        let values: [String?] = [conninfo, "-c TimeZone=UTC -c DateStyle=ISO", "billing", "5", nil]
        handle = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            throw PostgresError(kind: .connection, detail: message)
        }
        // Server notices ("relation already exists, skipping") are not errors; keep them off stderr.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    /// Closes the connection (one in an unknown state, or before connecting again); the next
    /// statement reconnects.
    func drop() {
        if let handle { PQfinish(handle) }
        handle = nil
        statementNames.removeAll()
    }

    /// Whether the connection is usable; a broken one is re-established by `reconnectIfNeeded`.
    public var isConnected: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Re-establishes a broken connection. Prepared statements are prepared again on use.
    public func reconnectIfNeeded() throws(PostgresError) {
        if !isConnected { try connect() }
    }

    /// Runs a parameterised statement (prepared on first use) and returns its rows.
    @discardableResult
    public func query(_ query: SQLQuery) throws(PostgresError) -> ResultSet {
        if !recording.isOff { throw record(.statement(query)) }
        if let prefetched = takePrefetched(matching: query) { return try prefetched.get() }
        return try retryingOnFreshConnection { () throws(PostgresError) in try run(query) }
    }

    /// A connection that broke while idle (PostgreSQL restarted) fails on its next
    /// statement. Outside a transaction nothing was done yet, so the statement is sent
    /// once more on a new connection; inside one, the error goes up and the work rolls back.
    private func retryingOnFreshConnection<T>(_ body: () throws(PostgresError) -> T) throws(PostgresError) -> T {
        do {
            return try body()
        } catch  where error.isConnectionFailure && !inTransaction {
            try connect()
            return try body()
        }
    }

    private func run(_ query: SQLQuery) throws(PostgresError) -> ResultSet {
        guard let handle else { throw PostgresError(kind: .connection, detail: "not connected") }
        let name = try preparedName(for: query.sql, paramCount: query.binds.count, handle: handle)
        let result = withCStringArray(query.binds) { pointers in
            name.withCString { namePointer in
                PQexecPrepared(handle, namePointer, Int32(query.binds.count), pointers, nil, nil, 0)
            }
        }
        return try check(result)
    }

    /// Runs SQL text without parameters through the simple protocol (several statements
    /// allowed): for migrations and transaction control only.
    @discardableResult
    public func execute(unsafeSQL sql: String) throws(PostgresError) -> ResultSet {
        if !recording.isOff { throw record(.notDeferrable) }
        return try retryingOnFreshConnection { () throws(PostgresError) in
            guard let handle else { throw PostgresError(kind: .connection, detail: "not connected") }
            return try check(PQexec(handle, sql))
        }
    }

    /// Runs `body` inside BEGIN … COMMIT; any thrown error rolls back and is rethrown.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute(unsafeSQL: "BEGIN")
        inTransaction = true
        defer { inTransaction = false }
        do {
            let value = try body()
            try execute(unsafeSQL: "COMMIT")
            return value
        } catch {
            if isConnected { _ = try? execute(unsafeSQL: "ROLLBACK") }
            throw error
        }
    }

    /// Runs `body` inside a savepoint of the open transaction: when it throws, its changes
    /// alone are undone and the error rethrown, and the transaction goes on.
    public func savepoint<T>(_ body: () throws -> T) throws -> T {
        try execute(unsafeSQL: "SAVEPOINT nested")
        do {
            let value = try body()
            try execute(unsafeSQL: "RELEASE SAVEPOINT nested")
            return value
        } catch {
            // A broken connection cannot roll back; the transaction fails with the error anyway.
            _ = try? execute(unsafeSQL: "ROLLBACK TO SAVEPOINT nested")
            throw error
        }
    }

    func preparedName(for sql: String, paramCount: Int, handle: OpaquePointer) throws(PostgresError)
        -> String
    {
        if let name = statementNames[sql] { return name }
        let name = "s\(statementNames.count + 1)"
        let result = PQprepare(handle, name, sql, Int32(paramCount), nil)
        _ = try check(result)
        statementNames[sql] = name
        return name
    }

    func check(_ result: OpaquePointer?) throws(PostgresError) -> ResultSet {
        guard let result else {
            throw PostgresError(kind: .connection, detail: handle.map { String(cString: PQerrorMessage($0)) } ?? "")
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return ResultSet(handle: result)
        default:
            let field = { (code: Character) -> String? in
                guard let pointer = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
                return String(cString: pointer)
            }
            let sqlState = field("C") ?? ""
            let error = PostgresError(
                kind: sqlState.isEmpty || !isConnected ? .connection : .query,
                sqlState: sqlState,
                constraint: field("n"),
                detail: field("M") ?? String(cString: PQresultErrorMessage(result)))
            PQclear(result)
            throw error
        }
    }
}

/// Calls `body` with a C array of pointers to NUL-terminated copies of `strings`
/// (nil stays NULL), all valid for the duration of the call.
func withCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var offsets: [Int] = []
    offsets.reserveCapacity(strings.count)
    var storage: [UInt8] = []
    storage.reserveCapacity(strings.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
    for string in strings {
        guard let string else {
            offsets.append(-1)
            continue
        }
        offsets.append(storage.count)
        storage.append(contentsOf: string.utf8)
        storage.append(0)
    }
    if storage.isEmpty { storage.append(0) }  // an empty array may have no base address
    return storage.withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buffer.count, 1)) { base in
            let pointers: [UnsafePointer<CChar>?] = offsets.map { $0 < 0 ? nil : base + $0 }
            return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
        }
    }
}
