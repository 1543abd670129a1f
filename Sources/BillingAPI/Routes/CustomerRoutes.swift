import Billing
import Common
import HTTP

/// `/customers` and `/customers/{id}/invoices`.
enum CustomerRoutes {
    static func register(in api: inout API) {
        api.write("POST", "/customers") { reader -> CustomerService.Create? in
            let email = Validation.email(&reader, required: true)
            let name = reader.string("name", required: true, maxLength: 200)
            let metadata = reader.stringMap("metadata") ?? []
            let zone = Validation.zone(&reader) ?? .utc
            let clock = reader.id("test_clock_id", as: TestClock.self)
            refuseInvoicePrefix(&reader)
            guard let email, let name else { return nil }
            return CustomerService.Create(email: email, name: name, metadata: metadata, zone: zone, testClockID: clock)
        } perform: { input, call in
            .json(201, try CustomerService.create(input, now: call.now, on: call.database()))
        }

        api.read("/customers") { call in
            var query = try call.query()
            let email = query.string("email", maxLength: 254)
            let page = query.page()
            try query.finish()
            return .json(200, try CustomerService.list(email: email, page: page, on: call.database()))
        }

        api.read("/customers/{id}") { call in
            .json(200, try CustomerService.get(call.id(0, "customer"), on: call.database()))
        }

        api.write("PATCH", "/customers/{id}") { reader in
            let email = Validation.email(&reader, required: false)
            let name = reader.string("name", maxLength: 200)
            let metadata = reader.stringMap("metadata")
            let rates = reader.ids("tax_rate_ids", maxCount: TaxRateService.maximumRates, as: TaxRate.self)
            let zone = Validation.zone(&reader)
            refuseInvoicePrefix(&reader)
            refuse(
                &reader, "test_clock_id",
                "is set when the customer is created: a customer never moves to or off a clock")
            return CustomerService.Update(
                email: email, name: name, metadata: metadata, taxRateIDs: rates, zone: zone)
        } perform: { input, call in
            .json(200, try CustomerService.update(call.id(0, "customer"), input, now: call.now, on: call.database()))
        }

        api.read("/customers/{id}/invoices") { call in
            let db = try call.database()
            let customer = try CustomerService.get(call.id(0, "customer"), on: db)
            return try InvoiceRoutes.list(call, customerID: customer.id)
        }
    }

    /// The prefix is the service's to give (invoicing.md §1): a client that sends one is
    /// told why, rather than "unknown field" for a field it can read.
    private static func refuseInvoicePrefix(_ reader: inout FieldReader) {
        refuse(&reader, "invoice_prefix", "is given by the service when the customer is created and never changes")
    }

    /// A field the client cannot set here, refused with why.
    private static func refuse(_ reader: inout FieldReader, _ field: String, _ why: String) {
        guard reader.has(field) else { return }
        reader.markKnown(field)
        reader.fail(field, why)
    }
}
