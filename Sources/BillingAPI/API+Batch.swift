import HTTP
import Postgres

/// Requests that arrived together on different connections of one worker thread share one
/// PostgreSQL round trip for the first statements of their GETs (0.21 → 0.36 of pgbench's
/// rate on `/customers/{id}`, measured in bench/run). Everything about it lives here: the
/// recording of each GET's first statement, the shared round trip, and the resumption of
/// each request with its result. Callers see one entry, `handle(batch:…)`.
///
/// The rule it rests on: a GET writes nothing and swallows no database error before its
/// first statement, so that statement, fetched a moment early on the same thread, reads
/// what it would have read. `BatchingTests` check it for every GET route: each first
/// statement is a SELECT, and every GET answers byte for byte what it answers alone.
extension API {
    /// Answers `requests`: `roundTrip` runs the shared round trip (`fetch` returns how many
    /// statements it carried; the worker marks its thread busy meanwhile, so that a
    /// database that stops answering trips its request timeout), then `answer` runs once
    /// per request, those answered from the round trip first, with the request's index
    /// and `run`, which answers it (the worker times it and keeps its scoreboard).
    public func handle(
        batch requests: [HTTPRequest], context: APIContext, roundTrip: (_ fetch: () -> Int) -> Void,
        answer: (_ index: Int, _ request: HTTPRequest, _ run: () -> HTTPResponse) -> Void
    ) {
        var prefetched: [Prefetched?] = []
        roundTrip {
            prefetched = prefetch(requests, context: context)
            return prefetched.count { $0 != nil }
        }
        let order =
            requests.indices.filter { prefetched[$0] != nil } + requests.indices.filter { prefetched[$0] == nil }
        for index in order {
            context.use(prefetched[index]?.statement)
            answer(index, requests[index]) {
                resume(requests[index], from: prefetched[index]?.routed, context: context)
            }
        }
        context.use(nil)
    }

    /// Answers a request, from where the recording pass routed and authenticated it when it
    /// did (its first statement then came from the endpoint itself).
    func resume(_ request: HTTPRequest, from routed: RoutedCall?, context: APIContext) -> HTTPResponse {
        guard let routed else { return handle(request, context: context) }
        return answer(request, context: context, route: routed.endpoint.route) { _ in try run(routed) }
    }

    /// Finds the first statement of each GET among `requests` by running it with
    /// statements recorded, not sent, and sends all of them in one round trip. A request
    /// that sends a different statement when it really runs simply runs it.
    func prefetch(_ requests: [HTTPRequest], context: APIContext) -> [Prefetched?] {
        var fetched = [Prefetched?](repeating: nil, count: requests.count)
        // A lone GET has nobody to share a round trip with: it runs the usual way, unrecorded.
        guard requests.count(where: { $0.method == "GET" }) > 1, let db = try? context.database() else {
            return fetched
        }
        var reads: [(index: Int, routed: RoutedCall?)] = []
        var statements: [SQLQuery] = []
        for (index, request) in requests.enumerated() where request.method == "GET" {
            guard case .statement(let statement) = firstStatement(of: request, context: context, on: db) else {
                continue
            }
            reads.append((index, statement.routed))
            statements.append(statement.query)
        }
        guard statements.count > 1 else { return fetched }
        for (read, statement) in zip(reads, db.prefetch(statements)) {
            guard let statement else { continue }
            fetched[read.index] = Prefetched(statement: statement, routed: read.routed)
        }
        return fetched
    }

    /// What a GET would send first, with the request as routed and authenticated when
    /// that statement came from its endpoint (not from checking its API key).
    func firstStatement(of request: HTTPRequest, context: APIContext, on db: Connection) -> FirstStatement {
        var matched = 0
        var routed: RoutedCall? = nil
        // Whatever the request makes of the recorded statement's marker is discarded here:
        // the marker never reaches error mapping, a log or a response. A statement recorded
        // while checking the API key leaves `routed` nil: the request then runs from the start.
        let recorded = db.firstStatement {
            guard let call = try? route(request, context: context, matched: &matched) else { return }
            routed = call
            _ = try? run(call)
        }
        switch recorded {
        case .statement(let query): return .statement((query, routed))
        case .notDeferrable: return .notDeferrable
        case nil: return .none
        }
    }

    /// The SQL a request sends first, recorded and not sent: the text of a single statement,
    /// "(transaction or plain SQL)" for anything that cannot be fetched early, nil when it
    /// sends none. For the tests that keep the rule above.
    public func firstStatementSQL(of request: HTTPRequest, context: APIContext) -> String? {
        guard let db = try? context.database() else { return nil }
        switch firstStatement(of: request, context: context, on: db) {
        case .statement(let statement): return statement.query.sql
        case .notDeferrable: return "(transaction or plain SQL)"
        case .none: return nil
        }
    }

    enum FirstStatement {
        case statement((query: SQLQuery, routed: RoutedCall?))
        /// A transaction or plain SQL: the request runs the usual way.
        case notDeferrable
        /// It sends nothing (a refusal before any statement).
        case none
    }

    /// A GET's first statement fetched ahead, and the request as already routed and
    /// authenticated when it can resume there.
    struct Prefetched {
        let statement: PrefetchedStatement
        let routed: RoutedCall?
    }
}
