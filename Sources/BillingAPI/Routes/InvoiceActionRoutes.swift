import Billing
import Common
import HTTP

/// `/invoices/{id}/pay`, `/void` and `/mark-uncollectible`.
enum InvoiceActionRoutes {
    static func register(in api: inout API) {
        api.write("POST", "/invoices/{id}/pay", bodyOptional: true) { reader in
            InvoiceService.Action.pay(at: reader.timestamp("paid_at"))
        } perform: { action, call in
            .json(200, try InvoiceService.apply(action, to: call.id(0, "invoice"), now: call.now, on: call.database()))
        }

        api.write("POST", "/invoices/{id}/void", bodyOptional: true) { _ in
            InvoiceService.Action.void
        } perform: { action, call in
            .json(200, try InvoiceService.apply(action, to: call.id(0, "invoice"), now: call.now, on: call.database()))
        }

        api.write("POST", "/invoices/{id}/mark-uncollectible", bodyOptional: true) { _ in
            InvoiceService.Action.markUncollectible
        } perform: { action, call in
            .json(200, try InvoiceService.apply(action, to: call.id(0, "invoice"), now: call.now, on: call.database()))
        }
    }
}
