import HTTP
import Postgres

extension API {
    /// Finds the first statement of each GET among `requests` (which arrived together on
    /// different connections) by running it with statements recorded, not sent, and sends
    /// all of them to PostgreSQL in one round trip. Each request then runs as usual with its
    /// result handed to the connection (`APIContext.use`), so it costs no round trip of its
    /// own. Sound because a GET changes nothing and its first statement runs outside any
    /// transaction: fetched a moment early, on the same thread, it reads what it would have
    /// read. The requests' own code is unchanged, and a request that sends a different
    /// statement when it really runs simply runs it.
    public func prefetch(_ requests: [HTTPRequest], context: APIContext) -> [Prefetched?] {
        var fetched = [Prefetched?](repeating: nil, count: requests.count)
        // A lone GET has nobody to share a round trip with: it runs the usual way, unrecorded.
        guard requests.count(where: { $0.method == "GET" }) > 1, let db = try? context.database() else {
            return fetched
        }
        var reads: [(index: Int, routed: RoutedCall?)] = []
        var statements: [SQLQuery] = []
        for (index, request) in requests.enumerated() where request.method == "GET" {
            var route = 0
            var routed: RoutedCall? = nil
            let deferral = db.firstStatement {
                _ = try? respond(to: request, context: context, route: &route, routed: { routed = $0 })
            }
            if case .statement(let statement) = deferral {
                reads.append((index, routed))
                statements.append(statement)
            }
        }
        guard statements.count > 1 else { return fetched }
        for (read, statement) in zip(reads, db.prefetch(statements)) {
            guard let statement else { continue }
            fetched[read.index] = Prefetched(statement: statement, routed: read.routed)
        }
        return fetched
    }

    /// A GET's first statement fetched ahead and, when that statement came from its
    /// endpoint (not from checking its API key), the request as already routed and
    /// authenticated, so that it resumes there.
    public struct Prefetched {
        public let statement: PrefetchedStatement
        public let routed: RoutedCall?
    }
}
