import Billing
import Common
import HTTP

/// `/invoices`: reads, and one-off drafts (create, change, delete, finalize).
enum InvoiceRoutes {
    static let statuses = Invoice.Status.allCases.map(\.rawValue)

    static func register(in api: inout API) {
        api.read("/invoices") { call in try list(call, customerID: nil) }

        api.read("/invoices/{id}") { call in
            .json(200, try InvoiceService.get(call.id(0, "invoice"), on: call.database()))
        }

        api.write("POST", "/invoices") { reader -> InvoiceService.CreateDraft? in
            let customerID = reader.id("customer_id", required: true, as: Customer.self)
            let currency = reader.has("currency") ? Validation.currency(&reader) : nil
            let description = reader.string("description", maxLength: 500)
            let days = reader.integer("days_until_due", in: 0...365)
            let include = reader.bool("include_pending_items") ?? true
            guard let customerID else { return nil }
            return InvoiceService.CreateDraft(
                customerID: customerID, currency: currency, description: description,
                daysUntilDue: days.map { Int($0) },
                includePendingItems: include)
        } perform: { input, call in
            .json(
                201,
                try InvoiceService.createDraft(input, now: call.now, config: call.context.config, on: call.database()))
        }

        api.write("PATCH", "/invoices/{id}") { reader in
            let description = reader.string("description", maxLength: 500)
            let days = reader.integer("days_until_due", in: 0...365)
            return InvoiceService.UpdateDraft(description: description, daysUntilDue: days.map { Int($0) })
        } perform: { input, call in
            .json(
                200,
                try InvoiceService.updateDraft(call.id(0, "invoice"), input, now: call.now, on: call.database()))
        }

        api.write("DELETE", "/invoices/{id}", bodyOptional: true) { _ in
        } perform: { _, call in
            let id: ID<Invoice> = try call.id(0, "invoice")
            try InvoiceService.deleteDraft(id, now: call.now, on: call.database())
            return .json(200, Deleted(id: id.uuid))
        }

        api.write("POST", "/invoices/{id}/finalize", bodyOptional: true) { _ in
        } perform: { _, call in
            .json(
                200,
                try InvoiceService.finalize(
                    call.id(0, "invoice"), now: call.now, config: call.context.config, on: call.database()))
        }
    }

    /// `GET /invoices`, also serving `GET /customers/{id}/invoices` with the customer fixed.
    static func list(_ call: Call, customerID fixedCustomer: ID<Customer>?) throws -> HTTPResponse {
        var query = try call.query()
        let customerID = fixedCustomer ?? query.id("customer_id", as: Customer.self)
        let subscriptionID = query.id("subscription_id", as: Subscription.self)
        let status = query.oneOf("status", statuses)
        let page = query.page()
        try query.finish()
        return .json(
            200,
            try InvoiceService.list(
                customerID: customerID, subscriptionID: subscriptionID, status: status, page: page,
                on: call.database()))
    }
}

/// The answer to a DELETE: `{"id": …, "deleted": true}`.
struct Deleted: JSONWritable {
    var id: UUID128

    func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("deleted", true)
        json.endObject()
    }
}
