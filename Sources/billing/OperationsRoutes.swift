import BillingAPI
import HTTP
import Pool

/// `/status` and `/metrics`, read from the pool's scoreboard. Loopback clients only (nginx
/// refuses every spelling of these paths to others, and the routes check the client's
/// address again); they need an API key like every other route.
enum OperationsRoutes {
    static func register(in api: inout API, board: Scoreboard) {
        api.addRead("/status", authenticated: true, loopbackOnly: true) { _ in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: board.statusJSON())
        }
        let labels = api.routeLabels + ["GET /metrics"]
        api.addRead("/metrics", authenticated: true, loopbackOnly: true) { _ in
            HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                body: Array(board.metricsText(routeLabels: labels).utf8))
        }
    }
}
