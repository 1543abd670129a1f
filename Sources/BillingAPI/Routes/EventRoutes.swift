import Billing
import Common
import HTTP

/// `/events` and `/events/{id}`: one event as the list shows it (and as a webhook delivers it).
enum EventRoutes {
    static let types = Event.Kind.allCases.map(\.rawValue)

    static func register(in api: inout API) {
        api.read("/events") { call in
            var query = try call.query()
            let type = query.oneOf("type", types)
            let page = query.page()
            try query.finish()
            return .json(200, try EventLog.list(type: type, page: page, on: call.database()))
        }

        api.read("/events/{id}") { call in
            .json(200, try EventLog.get(call.id(0, "event"), on: call.database()))
        }
    }
}
