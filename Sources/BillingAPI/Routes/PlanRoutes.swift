import Billing
import Common
import HTTP

/// `/plans`. Price, currency, interval, trial and code are immutable once created.
enum PlanRoutes {
    static let immutableFields = [
        "code", "amount_cents", "currency", "interval", "interval_count", "trial_days", "billing_cycle", "charges",
    ]

    static func register(in api: inout API) {
        api.write("POST", "/plans") { reader -> PlanService.Create? in
            let code = reader.string("code", required: true, maxLength: 100)
            let name = reader.string("name", required: true, maxLength: 200)
            let amount = reader.integer("amount_cents", required: true, in: Validation.amountRange)
            let currency = Validation.currency(&reader)
            let interval = Validation.interval(&reader)
            let trialDays = reader.integer("trial_days", in: 0...730) ?? 0
            let cycle = Validation.choice(&reader, "billing_cycle", as: BillingCycle.self) ?? .anniversary
            let charges = ChargeFields.charges(&reader)
            guard let code, let name, let amount, let currency, let interval, let charges else { return nil }
            return PlanService.Create(
                code: code, name: name, amountCents: amount, currency: currency, interval: interval,
                trialDays: Int(trialDays), billingCycle: cycle, charges: charges)
        } perform: { input, call in
            .json(201, try PlanService.create(input, now: call.now, on: call.database()))
        }

        api.read("/plans") { call in
            var query = try call.query()
            let isActive = query.bool("is_active")
            let page = query.page()
            try query.finish()
            return .json(200, try PlanService.list(isActive: isActive, page: page, on: call.database()))
        }

        api.read("/plans/{id}") { call in
            .json(200, try PlanService.get(call.id(0, "plan"), on: call.database()))
        }

        api.write("PATCH", "/plans/{id}") { reader in
            for field in immutableFields where reader.has(field) {
                reader.markKnown(field)
                reader.fail(field, "is immutable; create a new plan instead")
            }
            return PlanService.Update(name: reader.string("name", maxLength: 200), isActive: reader.bool("is_active"))
        } perform: { input, call in
            .json(200, try PlanService.update(call.id(0, "plan"), input, now: call.now, on: call.database()))
        }
    }
}
