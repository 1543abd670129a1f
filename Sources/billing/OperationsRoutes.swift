import Billing
import BillingAPI
import Common
import HTTP
import Pool

/// `/status` and `/metrics`, read from the pool's scoreboard, with the webhook deliveries
/// read from the database. Loopback clients only (nginx
/// refuses every spelling of these paths to others, and the routes check the client's
/// address again); they need an API key like every other route.
enum OperationsRoutes {
    static func register(in api: inout API, board: Scoreboard) {
        api.addRead("/status", authenticated: true, loopbackOnly: true) { call in
            // The pool's status, with the webhook deliveries' beside it.
            var body = board.statusJSON()
            // Without the database the pool's own status still answers.
            guard let health = try? WebhookDeliveryStore.health(on: call.database()) else {
                return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
            }
            var json = JSONWriter(capacity: 160)
            json.beginObject()
            json.field("pending", health.pending)
            json.field("succeeded", health.succeeded)
            json.field("failed", health.failed)
            json.field("oldest_pending_seconds", health.oldestPendingSeconds)
            json.key("attempts")
            json.beginObject()
            for (result, count) in health.attempts { json.field(result, count) }
            json.endObject()
            json.endObject()
            body.removeLast()
            body += Array(#","webhook_deliveries":"#.utf8) + json.bytes + [UInt8(ascii: "}")]
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
        }
        let labels = api.routeLabels + ["GET /metrics"]
        api.addRead("/metrics", authenticated: true, loopbackOnly: true) { call in
            guard let health = try? WebhookDeliveryStore.health(on: call.database()) else {
                return HTTPResponse(
                    status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                    body: Array(board.metricsText(routeLabels: labels).utf8))
            }
            let webhooks = """
                # HELP billing_webhook_deliveries Webhook deliveries by status, from the database.
                # TYPE billing_webhook_deliveries gauge
                billing_webhook_deliveries{status="pending"} \(health.pending)
                billing_webhook_deliveries{status="succeeded"} \(health.succeeded)
                billing_webhook_deliveries{status="failed"} \(health.failed)
                # HELP billing_webhook_oldest_pending_seconds Age of the oldest pending webhook delivery.
                # TYPE billing_webhook_oldest_pending_seconds gauge
                billing_webhook_oldest_pending_seconds \(health.oldestPendingSeconds)
                # HELP billing_webhook_attempts_total Webhook delivery attempts by result, from the database.
                # TYPE billing_webhook_attempts_total counter

                """
                + health.attempts.map { "billing_webhook_attempts_total{result=\"\($0.result)\"} \($0.count)\n" }
                .joined()
            return HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")],
                body: Array((board.metricsText(routeLabels: labels) + webhooks).utf8))
        }
    }
}
