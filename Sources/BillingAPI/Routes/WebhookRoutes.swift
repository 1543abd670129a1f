import Billing
import Common
import HTTP
import Webhooks

/// `/webhook-endpoints` and `/webhook-deliveries` (`webhooks.md`).
enum WebhookRoutes {
    static let statuses = WebhookDelivery.Status.allCases.map(\.rawValue)

    static func register(in api: inout API) {
        api.write("POST", "/webhook-endpoints") { reader -> WebhookEndpointService.Create? in
            let url = reader.string("url", required: true, maxLength: 2048)
            let types = reader.strings("enabled_events", required: true, maxCount: 100, maxLength: 100)
            let description = reader.string("description", maxLength: 500)
            guard let url, let types else { return nil }
            return WebhookEndpointService.Create(url: url, enabledEvents: types, description: description)
        } perform: { input, call in
            .json(
                201,
                try WebhookEndpointService.create(
                    input, now: call.now, settings: call.context.config.webhooks, on: call.database()))
        }

        api.read("/webhook-endpoints") { call in
            var query = try call.query()
            let page = query.page()
            try query.finish()
            return .json(200, try WebhookEndpointService.list(page: page, on: call.database()))
        }

        api.read("/webhook-endpoints/{id}") { call in
            .json(200, try WebhookEndpointService.get(call.id(0, "webhook endpoint"), on: call.database()))
        }

        api.write("PATCH", "/webhook-endpoints/{id}") { reader in
            WebhookEndpointService.Update(
                url: reader.string("url", maxLength: 2048),
                enabledEvents: reader.strings("enabled_events", maxCount: 100, maxLength: 100),
                description: reader.string("description", maxLength: 500), disabled: reader.bool("disabled"))
        } perform: { input, call in
            .json(
                200,
                try WebhookEndpointService.update(
                    call.id(0, "webhook endpoint"), input, now: call.now, settings: call.context.config.webhooks,
                    on: call.database()))
        }

        api.write("DELETE", "/webhook-endpoints/{id}", bodyOptional: true) { _ in
        } perform: { _, call in
            let id: ID<WebhookEndpoint> = try call.id(0, "webhook endpoint")
            _ = try WebhookEndpointService.delete(id, now: call.now, on: call.database())
            return .json(200, Deleted(id: id.uuid))
        }

        api.write("POST", "/webhook-endpoints/{id}/rotate-secret", bodyOptional: true) { reader in
            Int(reader.integer("expire_old_after_seconds", in: 0...86_400) ?? 0)
        } perform: { expireOldAfter, call in
            .json(
                200,
                try WebhookEndpointService.rotateSecret(
                    call.id(0, "webhook endpoint"), expireOldAfter: expireOldAfter, now: call.now,
                    on: call.database()))
        }

        api.read("/webhook-endpoints/{id}/deliveries") { call in
            var query = try call.query()
            let status = query.oneOf("status", statuses).flatMap(WebhookDelivery.Status.init(rawValue:))
            let page = query.page()
            try query.finish()
            return .json(
                200,
                try WebhookDeliveryStore.list(
                    endpoint: call.id(0, "webhook endpoint"), status: status, page: page, on: call.database()))
        }

        api.read("/webhook-deliveries/{id}") { call in
            .json(200, try WebhookDeliveryStore.get(call.id(0, "webhook delivery"), on: call.database()))
        }

        api.write("POST", "/webhook-deliveries/{id}/retry", bodyOptional: true) { _ in
        } perform: { _, call in
            .json(
                200,
                try WebhookSender.attemptNow(
                    call.id(0, "webhook delivery"), settings: call.context.config.webhooks, on: call.database()))
        }
    }
}
