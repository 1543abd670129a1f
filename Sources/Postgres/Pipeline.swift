import CLibPQ

/// What a piece of code would send to PostgreSQL first, found by running it with
/// statements recorded instead of run (`Connection.firstStatement(of:)`).
public enum Deferral {
    /// A single parameterised statement outside any transaction: it can be sent ahead,
    /// together with other requests' statements.
    case statement(SQLQuery)
    /// A transaction or plain SQL text: the code must run the usual way.
    case notDeferrable
}

/// What a connection does with statements: run them, or record the first one.
enum Recording {
    /// Statements run.
    case off
    /// `firstStatement(of:)` runs and nothing was sent yet.
    case waiting
    /// The first statement, kept; later ones are refused unrecorded.
    case recorded(Deferral)

    var isOff: Bool {
        if case .off = self { return true }
        return false
    }
}

/// A statement's result fetched ahead of the code that sends it (`Connection.prefetch`).
public struct PrefetchedStatement {
    let query: SQLQuery
    let result: Result<ResultSet, PostgresError>
}

extension Connection {
    /// Runs `body` with every statement recorded instead of run: the first one throws a
    /// `.deferred` error back into `body` (whatever `body` makes of it is discarded by the
    /// caller) and is returned, or nil when `body` sent none.
    public func firstStatement(of body: () -> Void) -> Deferral? {
        recording = .waiting
        defer { recording = .off }
        body()
        guard case .recorded(let deferral) = recording else { return nil }
        return deferral
    }

    func record(_ deferral: Deferral) -> PostgresError {
        if case .waiting = recording { recording = .recorded(deferral) }
        return PostgresError(kind: .deferred, detail: "statement recorded, not sent")
    }

    /// Makes the next statement answer from `prefetched` if it is the very statement that
    /// was sent ahead; any other statement runs as usual and the prefetched result is dropped.
    public func use(_ prefetched: PrefetchedStatement?) { self.prefetched = prefetched }

    func takePrefetched(matching query: SQLQuery) -> Result<ResultSet, PostgresError>? {
        guard let prefetched else { return nil }
        self.prefetched = nil
        guard prefetched.query.sql == query.sql, prefetched.query.binds == query.binds else { return nil }
        return prefetched.result
    }

    /// Sends single statements of different requests in one round trip (libpq's pipeline
    /// mode, one implicit transaction), so that PostgreSQL and this thread wake once for
    /// all of them. Each gets its result or its error; nil means not run (a statement
    /// before it failed, or the connection broke) and the statement is simply sent again
    /// the usual way. Reads only: nothing here may depend on another statement's effect.
    public func prefetch(_ queries: [SQLQuery]) -> [PrefetchedStatement?] {
        var fetched = [PrefetchedStatement?](repeating: nil, count: queries.count)
        guard !inTransaction, recording.isOff, let handle, PQstatus(handle) == CONNECTION_OK,
            queries.reduce(0, { $0 + 64 + $1.binds.reduce(0) { $0 + ($1?.utf8.count ?? 0) } }) <= Self.prefetchMaxBytes
        else { return fetched }
        // New statements are prepared first, one round trip each, once per connection.
        var names: [String] = []
        names.reserveCapacity(queries.count)
        for query in queries {
            guard let name = try? preparedName(for: query.sql, paramCount: query.binds.count, handle: handle)
            else { return fetched }
            names.append(name)
        }
        guard PQenterPipelineMode(handle) == 1 else { return fetched }
        var sent = 0
        for (query, name) in zip(queries, names) {
            let queued = withCStringArray(query.binds) { pointers in
                name.withCString { PQsendQueryPrepared(handle, $0, Int32(query.binds.count), pointers, nil, nil, 0) }
            }
            guard queued == 1 else { break }
            sent += 1
        }
        guard PQpipelineSync(handle) == 1 else {
            drop()
            return fetched
        }
        for index in 0..<sent {
            guard let result = PQgetResult(handle) else { break }
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                PQclear(result)
            } else {
                fetched[index] = PrefetchedStatement(
                    query: queries[index], result: Result { () throws(PostgresError) in try check(result) })
            }
            // Each statement's results end with a NULL.
            while let extra = PQgetResult(handle) { PQclear(extra) }
        }
        // Then the sync point, after which the connection is idle again.
        var synced = false
        while let result = PQgetResult(handle) {
            synced = synced || PQresultStatus(result) == PGRES_PIPELINE_SYNC
            PQclear(result)
            if synced { break }
        }
        guard synced, PQexitPipelineMode(handle) == 1 else {
            // A connection in an unknown state: keep the rows that arrived, run the rest again.
            drop()
            return fetched.map { statement in
                guard let statement, case .success = statement.result else { return nil }
                return statement
            }
        }
        return fetched
    }

    /// Bounds what one pipeline sends (Bind and Execute messages: the parameters and about
    /// 64 bytes a statement) to what any socket's send buffer takes at once (Linux starts
    /// TCP's at 16 KiB). The send then never blocks, so it can never wait on PostgreSQL
    /// while PostgreSQL waits for its results to be read.
    static let prefetchMaxBytes = 16 * 1024
}
