import BillingAPI
import HTTP
import Pool

/// `/status` and `/metrics`, read from the pool's scoreboard. nginx serves them to
/// loopback clients only; they need an API key like every other route.
enum OperationsRoutes {
    static func register(in api: inout API, board: Scoreboard) {
        api.addRead("/status", authenticated: true) { _ in
            HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: board.statusJSON())
        }
        let labels = api.routeLabels + ["GET /metrics"]
        api.addRead("/metrics", authenticated: true) { _ in
            HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                body: Array(board.metricsText(routeLabels: labels).utf8))
        }
    }
}
