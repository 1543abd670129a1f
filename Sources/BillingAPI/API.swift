import Billing
import CShim
import Common
import Dispatch
import HTTP
import Logging
import Postgres

/// The route table of the billing API. `handle` is callable with a plain request value,
/// so most API tests need PostgreSQL but neither nginx nor FastCGI.
public struct API: Sendable {
    struct Endpoint: Sendable {
        var authenticated: Bool
        var route: Int
        /// The largest body it reads: 64 KiB, but 1 MiB for a batch of usage events.
        var maxBodyBytes = API.maxBodyBytes
        var run: @Sendable (inout Call) throws -> HTTPResponse
    }

    var router = Router<Endpoint>()
    /// `METHOD /path/{param}` of every route, by index; index 0 is "no route matched".
    public private(set) var routeLabels = ["unmatched"]

    /// Bodies every route reads; `API.maxBatchBodyBytes` for the routes that take batches
    /// (nginx's limits are the same, per location).
    public static let maxBodyBytes = 64 * 1024
    public static let maxBatchBodyBytes = 1024 * 1024

    /// Batch routes run two at a time in a worker, and give their memory back after each
    /// batch: a batch of 1,000 usage events is about 2 MB of parse tree, statement parameters
    /// and libpq buffers in its thread's malloc arena, and four at once took a worker from 20
    /// to 26 MB (README, "RSS"). Two keep PostgreSQL as busy as four did (one at a time cost
    /// a tenth of the events/s), and the worker's other threads keep serving everything else.
    private static let batchGate = DispatchSemaphore(value: 2)

    private mutating func add(
        _ method: String, _ path: String, authenticated: Bool, maxBodyBytes: Int = API.maxBodyBytes,
        _ run: @escaping @Sendable (inout Call) throws -> HTTPResponse
    ) {
        let batched: @Sendable (inout Call) throws -> HTTPResponse = { call in
            API.batchGate.wait()
            defer {
                CShim_releaseFreeMemory()
                API.batchGate.signal()
            }
            return try run(&call)
        }
        router.add(
            method, path,
            Endpoint(
                authenticated: authenticated, route: routeLabels.count, maxBodyBytes: maxBodyBytes,
                run: maxBodyBytes > API.maxBodyBytes ? batched : run))
        routeLabels.append("\(method) \(path)")
    }

    /// Adds a read-only route from outside the module (the pool's `/status` and `/metrics`);
    /// `loopbackOnly` refuses every client but this host (403), whatever nginx lets through.
    public mutating func addRead(
        _ path: String, authenticated: Bool, loopbackOnly: Bool = false,
        _ body: @escaping @Sendable (Call) throws -> HTTPResponse
    ) {
        add("GET", path, authenticated: authenticated) { call in
            guard !loopbackOnly || call.request.isFromLoopback else { throw Problem.loopbackOnly }
            return try body(call)
        }
    }

    /// The complete API of API.md.
    public static func billing() -> API {
        var api = API()
        HealthRoutes.register(in: &api)
        CustomerRoutes.register(in: &api)
        PlanRoutes.register(in: &api)
        SubscriptionRoutes.register(in: &api)
        SubscriptionActionRoutes.register(in: &api)
        InvoiceRoutes.register(in: &api)
        InvoiceActionRoutes.register(in: &api)
        InvoiceItemRoutes.register(in: &api)
        TaxRateRoutes.register(in: &api)
        CouponRoutes.register(in: &api)
        CreditNoteRoutes.register(in: &api)
        BillingRunRoutes.register(in: &api)
        TestClockRoutes.register(in: &api)
        MeterRoutes.register(in: &api)
        UsageRoutes.register(in: &api)
        EventRoutes.register(in: &api)
        WebhookRoutes.register(in: &api)
        DocumentRoutes.register(in: &api)
        ReportRoutes.register(in: &api)
        return api
    }

    /// A route without a body (GET): `body` reads and answers.
    mutating func read(
        _ path: String, authenticated: Bool = true, _ body: @escaping @Sendable (Call) throws -> HTTPResponse
    ) {
        add("GET", path, authenticated: authenticated) { call in try body(call) }
    }

    /// A route that changes state: the body is decoded and validated first (400/415/422
    /// store nothing), then `perform` runs in one transaction together with the
    /// idempotency record, if the client sent an `Idempotency-Key`.
    ///
    /// `decode` reads every field and returns the input only if it could build it (nil when
    /// a required field is missing or invalid, which the reader has recorded). Its input
    /// reaches `perform` only after `finish()` found no problem, so a missed check is a 422,
    /// never a crashed worker: no route unwraps a field by force.
    ///
    /// `dryRun` picks the inputs that only show what they would do (previews): `perform`
    /// runs in a transaction that is rolled back, and no idempotency record is kept.
    mutating func write<Input>(
        _ method: String, _ path: String, bodyOptional: Bool = false, transactional: Bool = true,
        maxBodyBytes: Int = API.maxBodyBytes,
        decode: @escaping @Sendable (inout FieldReader) -> Input?,
        dryRun: (@Sendable (Input) -> Bool)? = nil,
        perform: @escaping @Sendable (Input, Call) throws -> HTTPResponse
    ) {
        add(method, path, authenticated: true, maxBodyBytes: maxBodyBytes) { call in
            let request = call.request
            let empty = request.body.isEmpty
            guard request.hasJSONContentType || (bodyOptional && empty) else { throw Problem.unsupportedMediaType }
            var reader = try FieldReader(body: empty && bodyOptional ? Array("{}".utf8) : request.body)
            let decoded = decode(&reader)
            try reader.finish()
            guard let input = decoded else { throw Problem.validation(field: "body", "could not be read") }
            if let dryRun, dryRun(input) { return try IdempotentWrite.rolledBack(call) { try perform(input, call) } }
            return transactional
                ? try IdempotentWrite.run(call) { try perform(input, call) }
                : try IdempotentWrite.runOutsideTransaction(call) { try perform(input, call) }
        }
    }

    /// Answers one request; every failure becomes a problem+json response.
    public func handle(_ request: HTTPRequest, context: APIContext) -> HTTPResponse {
        answer(request, context: context) { matched in
            try run(try route(request, context: context, matched: &matched))
        }
    }

    /// Runs `body`, turning a failure into its problem+json answer, labelled with the route
    /// that `body` matched (starting at `route`; 0 when none matched).
    func answer(
        _ request: HTTPRequest, context: APIContext, route: Int = 0, _ body: (inout Int) throws -> HTTPResponse
    ) -> HTTPResponse {
        var route = route
        do {
            return try body(&route)
        } catch {
            var response = ErrorMapping.problem(for: error, context: context).response(requestID: request.requestID)
            response.route = route
            return response
        }
    }

    /// A request routed and authenticated, about to run its endpoint.
    struct RoutedCall {
        let endpoint: Endpoint
        var call: Call
    }

    /// Finds the request's endpoint (`matched` is its route's index once found) and checks
    /// its API key and body size.
    func route(_ request: HTTPRequest, context: APIContext, matched: inout Int) throws -> RoutedCall {
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            throw Problem.notFound("no route for \(request.path)")
        case .methodNotAllowed(let allow):
            throw Problem.methodNotAllowed(allow: allow)
        case .found(let endpoint, let parameters):
            matched = endpoint.route
            var call = Call(request: request, parameters: parameters, context: context, now: .now(), apiKeyID: nil)
            if endpoint.authenticated { call.apiKeyID = try context.authenticate(request) }
            if request.bodyTooLarge || request.body.count > endpoint.maxBodyBytes { throw Problem.payloadTooLarge }
            return RoutedCall(endpoint: endpoint, call: call)
        }
    }

    /// Runs a routed request's endpoint.
    func run(_ routed: RoutedCall) throws -> HTTPResponse {
        var call = routed.call
        var response = try routed.endpoint.run(&call)
        response.route = routed.endpoint.route
        return response
    }
}
