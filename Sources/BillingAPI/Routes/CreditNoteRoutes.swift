import Billing
import Common
import HTTP

/// `/credit-notes`.
enum CreditNoteRoutes {
    static let amounts: ClosedRange<Int64> = 0...Pricing.subtotalLimit

    static func register(in api: inout API) {
        api.write("POST", "/credit-notes") { reader -> CreditNoteService.Create? in
            let invoiceID = reader.id("invoice_id", required: true, as: Invoice.self)
            let amount = reader.integer("amount_cents", required: true, in: 1...Pricing.subtotalLimit)
            let reason = Validation.choice(&reader, "reason", as: CreditNote.Reason.self)
            let memo = reader.string("memo", maxLength: 500)
            let refund = reader.integer("refund_amount_cents", in: amounts)
            let credit = reader.integer("credit_amount_cents", in: amounts)
            let outOfBand = reader.integer("out_of_band_amount_cents", in: amounts)
            guard let invoiceID, let amount else { return nil }
            return CreditNoteService.Create(
                invoiceID: invoiceID, amount: amount, reason: reason, memo: memo, refund: refund, credit: credit,
                outOfBand: outOfBand)
        } perform: { input, call in
            .json(
                201,
                try CreditNoteService.create(input, now: call.now, config: call.context.config, on: call.database()))
        }

        api.read("/credit-notes") { call in
            var query = try call.query()
            let invoiceID = query.id("invoice_id", as: Invoice.self)
            let customerID = query.id("customer_id", as: Customer.self)
            let page = query.page()
            try query.finish()
            return .json(
                200,
                try CreditNoteService.list(
                    invoiceID: invoiceID, customerID: customerID, page: page, on: call.database()))
        }

        api.read("/credit-notes/{id}") { call in
            .json(200, try CreditNoteService.get(call.id(0, "credit note"), on: call.database()))
        }

        api.write("POST", "/credit-notes/{id}/void", bodyOptional: true) { _ in
        } perform: { _, call in
            .json(200, try CreditNoteService.void(call.id(0, "credit note"), now: call.now, on: call.database()))
        }
    }
}
