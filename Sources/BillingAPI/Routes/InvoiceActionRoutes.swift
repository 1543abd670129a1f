import Billing
import Common
import HTTP

/// `/invoices/{id}/payments`, `/pay`, `/void` and `/mark-uncollectible`.
enum InvoiceActionRoutes {
    static func register(in api: inout API) {
        api.write("POST", "/invoices/{id}/payments") { reader -> InvoiceService.PaymentRequest? in
            let amount = reader.integer("amount_cents", required: true, in: 1...Pricing.subtotalLimit)
            let paidAt = reader.timestamp("paid_at")
            let reference = reader.string("reference", maxLength: 500)
            guard let amount else { return nil }
            return InvoiceService.PaymentRequest(amount: amount, paidAt: paidAt, reference: reference)
        } perform: { input, call in
            .json(
                201, try InvoiceService.pay(call.id(0, "invoice"), input, now: call.now, on: call.database()).payment)
        }

        api.read("/invoices/{id}/payments") { call in
            var query = try call.query()
            let page = query.page()
            try query.finish()
            return .json(200, try InvoiceService.payments(of: call.id(0, "invoice"), page: page, on: call.database()))
        }

        api.write("POST", "/invoices/{id}/pay", bodyOptional: true) { reader in
            InvoiceService.PaymentRequest(
                amount: nil, paidAt: reader.timestamp("paid_at"), reference: reader.string("reference", maxLength: 500))
        } perform: { input, call in
            .json(
                200, try InvoiceService.pay(call.id(0, "invoice"), input, now: call.now, on: call.database()).invoice)
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
