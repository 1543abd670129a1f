import Billing
import Common
import HTTP

/// `/tax-rates`. A rate's percentage and inclusiveness never change once created.
enum TaxRateRoutes {
    static let immutableFields = ["percentage", "inclusive", "country"]

    static func register(in api: inout API) {
        api.write("POST", "/tax-rates") { reader -> TaxRateService.Create? in
            let name = reader.string("display_name", required: true, maxLength: 100)
            let description = reader.string("description", maxLength: 500)
            let percentage = Validation.percentage(&reader, "percentage", maxDecimals: 4, in: 0...999_999)
            let inclusive = reader.bool("inclusive", required: true)
            let country = reader.string("country", maxLength: 2)
            if let country, country.count != 2 || !country.allSatisfy({ ("A"..."Z").contains($0) }) {
                reader.fail("country", "must be an upper-case ISO 3166-1 alpha-2 code such as DE")
            }
            guard let name, let percentage, let inclusive else { return nil }
            return TaxRateService.Create(
                displayName: name, description: description, percentage: percentage, inclusive: inclusive,
                country: country)
        } perform: { input, call in
            .json(201, try TaxRateService.create(input, now: call.now, on: call.database()))
        }

        api.read("/tax-rates") { call in
            var query = try call.query()
            let isActive = query.bool("is_active")
            let page = query.page()
            try query.finish()
            return .json(200, try TaxRateService.list(isActive: isActive, page: page, on: call.database()))
        }

        api.read("/tax-rates/{id}") { call in
            .json(200, try TaxRateService.get(call.id(0, "tax rate"), on: call.database()))
        }

        api.write("PATCH", "/tax-rates/{id}") { reader in
            for field in immutableFields where reader.has(field) {
                reader.markKnown(field)
                reader.fail(field, "never changes; create a new rate instead")
            }
            return TaxRateService.Update(
                displayName: reader.string("display_name", maxLength: 100),
                description: reader.string("description", maxLength: 500), isActive: reader.bool("is_active"))
        } perform: { input, call in
            .json(200, try TaxRateService.update(call.id(0, "tax rate"), input, now: call.now, on: call.database()))
        }
    }
}
