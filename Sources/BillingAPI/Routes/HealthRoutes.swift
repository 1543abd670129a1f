import Billing
import Common
import HTTP

/// `/health` (the worker answers), `/health/ready` (database and schema) and `/health/db`.
enum HealthRoutes {
    struct Status: JSONWritable {
        var fields: [(String, String)]
        func write(to json: inout JSONWriter) {
            json.beginObject()
            for (name, value) in fields { json.field(name, value) }
            json.endObject()
        }
    }

    static func register(in api: inout API) {
        api.read("/health", authenticated: false) { _ in
            .json(200, Status(fields: [("status", "ok")]))
        }
        api.read("/health/db", authenticated: false) { call in
            guard (try? Health.ping(on: call.database())) != nil else {
                return .json(503, Status(fields: [("database", "unavailable")]))
            }
            return .json(200, Status(fields: [("database", "ok")]))
        }
        api.read("/health/ready", authenticated: false) { call in
            guard let db = try? call.database(), let migrations = try? Health.check(on: db) else {
                return .json(
                    503,
                    Status(fields: [("status", "unavailable"), ("database", "unavailable"), ("migrations", "unknown")]))
            }
            let ready = migrations == .current
            return .json(
                ready ? 200 : 503,
                Status(fields: [
                    ("status", ready ? "ok" : "unavailable"), ("database", "ok"), ("migrations", migrations.rawValue),
                ]))
        }
    }
}
