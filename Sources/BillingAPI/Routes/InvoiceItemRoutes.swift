import Billing
import Common
import HTTP

/// `/invoice-items`.
enum InvoiceItemRoutes {
    static let amounts: ClosedRange<Int64> = -Pricing.lineLimit...Pricing.lineLimit
    static let quantities: ClosedRange<Int64> = 1...Int64(Pricing.quantityLimit)

    static func register(in api: inout API) {
        api.write("POST", "/invoice-items") { reader -> InvoiceItemService.Create? in
            let customerID = reader.id("customer_id", required: true, as: Customer.self)
            let description = reader.string("description", required: true, maxLength: 500)
            let currency = reader.has("currency") ? Validation.currency(&reader) : nil
            let price = self.price(&reader)
            let invoiceID = reader.id("invoice_id", as: Invoice.self)
            let start = reader.timestamp("period_start")
            let end = reader.timestamp("period_end")
            var period: (start: Timestamp, end: Timestamp)?
            switch (start, end) {
            case (let start?, let end?):
                guard end >= start else {
                    reader.fail("period_end", "must not be before period_start")
                    return nil
                }
                period = (start, end)
            case (nil, nil):
                period = nil
            default:
                if !reader.has("period_start") || !reader.has("period_end") {
                    reader.fail(start == nil ? "period_start" : "period_end", "is required with the other end")
                }
                return nil
            }
            guard let customerID, let description, let price else { return nil }
            return InvoiceItemService.Create(
                customerID: customerID, description: description, currency: currency, price: price,
                invoiceID: invoiceID, period: period)
        } perform: { input, call in
            .json(201, try InvoiceItemService.create(input, now: call.now, on: call.database()))
        }

        api.read("/invoice-items") { call in
            var query = try call.query()
            let customerID = query.id("customer_id", as: Customer.self)
            let invoiceID = query.id("invoice_id", as: Invoice.self)
            let pending = query.bool("pending")
            let page = query.page()
            try query.finish()
            return .json(
                200,
                try InvoiceItemService.list(
                    customerID: customerID, invoiceID: invoiceID, pending: pending, page: page, on: call.database()))
        }

        api.read("/invoice-items/{id}") { call in
            .json(200, try InvoiceItemService.get(call.id(0, "invoice item"), on: call.database()))
        }

        api.write("PATCH", "/invoice-items/{id}") { reader -> InvoiceItemService.Update? in
            let description = reader.string("description", maxLength: 500)
            let amount = reader.integer("amount_cents", in: amounts)
            let unit = reader.integer("unit_amount_cents", in: amounts)
            let quantity = reader.integer("quantity", in: quantities)
            if amount != nil && (unit != nil || quantity != nil) {
                reader.fail("amount_cents", "give either amount_cents or unit_amount_cents (with quantity), not both")
                return nil
            }
            return InvoiceItemService.Update(
                description: description, amount: amount, unitAmount: unit, quantity: quantity.map { Int($0) })
        } perform: { input, call in
            .json(
                200,
                try InvoiceItemService.update(call.id(0, "invoice item"), input, now: call.now, on: call.database()))
        }

        api.write("DELETE", "/invoice-items/{id}", bodyOptional: true) { _ in
        } perform: { _, call in
            let id: ID<InvoiceItem> = try call.id(0, "invoice item")
            try InvoiceItemService.delete(id, now: call.now, on: call.database())
            return .json(200, Deleted(id: id.uuid))
        }
    }

    /// Exactly one of `amount_cents` or `unit_amount_cents` (with an optional `quantity`).
    private static func price(_ reader: inout FieldReader) -> InvoiceItemService.Price? {
        let hasAmount = reader.has("amount_cents")
        let hasUnit = reader.has("unit_amount_cents")
        let amount = reader.integer("amount_cents", in: amounts)
        let unit = reader.integer("unit_amount_cents", in: amounts)
        let quantity = reader.integer("quantity", in: quantities)
        switch (hasAmount, hasUnit) {
        case (true, true):
            reader.fail("amount_cents", "give either amount_cents or unit_amount_cents, not both")
        case (false, false):
            reader.fail("amount_cents", "is required (or unit_amount_cents with quantity)")
        case (true, false):
            if reader.has("quantity") { reader.fail("quantity", "goes with unit_amount_cents, not amount_cents") }
            return amount.map { .amount($0) }
        case (false, true):
            guard let unit else { return nil }
            return .unit(unit, quantity: Int(quantity ?? 1))
        }
        return nil
    }
}
