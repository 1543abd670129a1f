import Billing
import Common
import HTTP

/// `/invoices`.
enum InvoiceRoutes {
    static let statuses = Invoice.Status.allCases.map(\.rawValue)

    static func register(in api: inout API) {
        api.read("/invoices") { call in try list(call, customerID: nil) }

        api.read("/invoices/{id}") { call in
            .json(200, try InvoiceService.get(call.id(0, "invoice"), on: call.database()))
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
