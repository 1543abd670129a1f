import ArgumentParser
import Billing
import BillingAPI
import CShim
import FastCGI
import HTTP
import Logging

#if canImport(Glibc)
    import Glibc
#endif

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve FastCGI requests from the listening socket on fd 0 (started by `serve`).")

    @Option(help: "Accept threads, each with its own PostgreSQL connection.")
    var threads: Int = 4

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        BillingCommand.bootstrapLogging()
        _ = CShim_dieWithParent(SIGTERM)
        _ = CShim_ignoreSIGPIPE()
        let logger = Logger(label: "billing.worker")
        let server = try FastCGIServer(listenFD: 0, threadCount: threads, maxBodyBytes: 64 * 1024)
        server.stopOnSignals()
        let api = API.billing()
        let conninfo = database.conninfo
        let config = BillingConfig.fromEnvironment(processEnvironment())
        logger.info("worker ready", metadata: ["threads": "\(threads)"])
        server.run {
            RequestHandler(api: api, context: APIContext(conninfo: conninfo, config: config, logger: logger))
        }
        logger.info("worker drained")
    }
}

/// Adapts FastCGI to the API on one thread.
final class RequestHandler: FastCGIHandler {
    let api: API
    let context: APIContext

    init(api: API, context: APIContext) {
        self.api = api
        self.context = context
    }

    func handle(_ request: FastCGIRequest) -> FastCGIResponse {
        let httpRequest = HTTPRequest(
            cgiParams: request.params, body: request.body, bodyTooLarge: request.bodyTooLarge)
        context.logger[metadataKey: "request_id"] = .string(httpRequest.requestID)
        let response = api.handle(httpRequest, context: context)
        if response.status >= 500 {
            context.logger.error(
                "request failed",
                metadata: ["path": "\(httpRequest.path)", "method": "\(httpRequest.method)", "status": "\(response.status)"])
        }
        return FastCGIResponse(status: response.status, headers: response.headers, body: response.body)
    }
}
