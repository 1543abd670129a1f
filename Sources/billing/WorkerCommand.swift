import ArgumentParser
import Billing
import BillingAPI
import CShim
import Common
import FastCGI
import HTTP
import Logging
import Pool
import Postgres

#if canImport(Glibc)
    import Glibc
#endif

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve FastCGI requests from the listening socket on fd 0 (started by `serve`).")

    @Option(help: "Threads, each with its own PostgreSQL connection.")
    var threads: Int = 4

    @Option(help: "The pool's scoreboard file.")
    var scoreboard: String

    @Option(help: "This worker's slot in the scoreboard.")
    var slot: Int

    @Option(help: "Requests to serve before exiting to be replaced (0: never); up to 10% jitter is added.")
    var maxRequests: Int = 0

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        BillingCommand.bootstrapLogging()
        _ = CShim_dieWithParent(SIGTERM)
        _ = CShim_ignoreSIGPIPE()
        let logger = Logger(label: "billing.worker")
        let board = try Scoreboard.attach(path: scoreboard)
        let slot = board.slot(slot)
        let conninfo = database.conninfo
        try checkDatabase(conninfo, logger: logger)

        let limit = maxRequests > 0 ? maxRequests + Int.random(in: 0...max(0, maxRequests / 10)) : 0
        let server = try FastCGIServer(
            listenFD: 0, threadCount: threads, maxBodyBytes: API.maxBatchBodyBytes, maxRequests: limit,
            params: HTTPRequest.cgiParamNames)
        server.stopOnSignals()
        var api = API.billing()
        OperationsRoutes.register(in: &api, board: board)
        // Each route counts in its own scoreboard row; a table that outgrew them would fold
        // the newest routes into one label.
        precondition(api.routeLabels.count <= Scoreboard.maxRoutes, "more routes than Scoreboard.maxRoutes")
        let config = try BillingConfig.fromEnvironment(processEnvironment())
        slot.markReady(threads: threads)
        logger.info("worker ready", metadata: ["threads": "\(threads)", "slot": "\(self.slot)"])
        let routes = api
        server.run { thread in
            let context = APIContext(conninfo: conninfo, config: config, logger: logger)
            context.onDatabaseError = { board.recordDatabaseError() }
            return RequestHandler(api: routes, context: context, slot: slot, thread: thread)
        }
        if server.reachedMaxRequests {
            logger.info("worker served its maximum requests; exiting to be replaced")
            throw ExitCode(Master.recycleExitCode)
        }
        logger.info("worker drained")
    }

    /// A worker is ready only when it reaches PostgreSQL and the schema is the one this
    /// binary expects: a new generation that cannot is never put in service.
    private func checkDatabase(_ conninfo: String, logger: Logger) throws {
        do {
            let db = try Connection(conninfo: conninfo)
            let migrations = try Health.check(on: db)
            guard migrations == .current else {
                logger.error("database schema is \(migrations.rawValue); run billing migrate")
                throw ExitCode(3)
            }
        } catch let error as PostgresError {
            logger.error("cannot reach PostgreSQL", metadata: ["error": "\(error.detail)"])
            throw ExitCode(3)
        }
    }
}

/// Adapts FastCGI to the API on one thread and keeps the scoreboard current.
final class RequestHandler: FastCGIHandler {
    let api: API
    let context: APIContext
    let slot: Slot
    let thread: Int

    init(api: API, context: APIContext, slot: Slot, thread: Int) {
        self.api = api
        self.context = context
        self.slot = slot
        self.thread = thread
    }

    func handle(_ request: FastCGIRequest) -> FastCGIResponse {
        handle(
            HTTPRequest(
                cgiParams: request.params, body: request.body, bodyTooLarge: request.bodyTooLarge,
                unreadable: request.unreadableParams))
    }

    /// Requests that arrived together: the GETs' first statements go to PostgreSQL in one
    /// round trip, then every request runs, those answered from it first.
    func handle(batch: [FastCGIRequest], respond: (Int, FastCGIResponse) -> Void) {
        let requests = batch.map {
            HTTPRequest(
                cgiParams: $0.params, body: $0.body, bodyTooLarge: $0.bodyTooLarge, unreadable: $0.unreadableParams)
        }
        api.handle(batch: requests, context: context) { fetch in
            // Busy on the scoreboard while the shared round trip runs, so that a database that
            // stops answering trips --request-timeout here as it would in a single request.
            slot.begin(
                thread: thread, method: "GET", path: "(\(requests.count) requests taken together)", requestID: "")
            let count = fetch()
            slot.end(thread: thread, countingRequest: false)
            if count > 0 { slot.board.recordPrefetch(statements: count) }
        } answer: { index, request, run in
            respond(index, handle(request, run: run))
        }
    }

    private func handle(_ httpRequest: HTTPRequest) -> FastCGIResponse {
        handle(httpRequest) { api.handle(httpRequest, context: context) }
    }

    /// Answers one request through `run`, with the worker's bookkeeping around it.
    private func handle(_ httpRequest: HTTPRequest, run: () -> HTTPResponse) -> FastCGIResponse {
        let started = Clock.monotonicNanos()
        slot.begin(thread: thread, method: httpRequest.method, path: httpRequest.path, requestID: httpRequest.requestID)
        context.requestID = httpRequest.requestID
        let response = run()
        let seconds = Double(Clock.monotonicNanos() - started) / 1e9
        slot.board.recordRequest(route: response.route, status: response.status, seconds: seconds)
        slot.end(thread: thread)
        if response.status >= 500 {
            context.logger.error(
                "request failed",
                metadata: [
                    "path": "\(httpRequest.path)", "method": "\(httpRequest.method)", "status": "\(response.status)",
                ])
        }
        return FastCGIResponse(status: response.status, headers: response.headers, body: response.body)
    }
}
