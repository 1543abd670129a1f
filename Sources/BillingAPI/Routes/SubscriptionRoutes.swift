import Billing
import Common
import HTTP

/// `/subscriptions`.
enum SubscriptionRoutes {
    static let statuses = Subscription.Status.allCases.map(\.rawValue)

    static func register(in api: inout API) {
        api.write("POST", "/subscriptions") { reader -> SubscriptionService.Create? in
            let customerID = reader.id("customer_id", required: true, as: Customer.self)
            let planID = reader.id("plan_id", required: true, as: Plan.self)
            let startAt = reader.timestamp("start_at")
            let trialDays = reader.integer("trial_days", in: 0...730)
            let quantity = reader.integer("quantity", in: InvoiceItemRoutes.quantities) ?? 1
            let rates = reader.ids("tax_rate_ids", maxCount: TaxRateService.maximumRates, as: TaxRate.self) ?? []
            let coupon = reader.string("coupon", maxLength: 100)
            let anchor = reader.timestamp("billing_cycle_anchor")
            let proration =
                Validation.choice(&reader, "proration_behavior", as: SubscriptionService.ProrationBehavior.self)
                ?? .createProrations
            guard let customerID, let planID else { return nil }
            return SubscriptionService.Create(
                customerID: customerID, planID: planID, startAt: startAt, trialDays: trialDays.map { Int($0) },
                quantity: Int(quantity), taxRateIDs: rates, coupon: coupon, billingCycleAnchor: anchor,
                prorationBehavior: proration)
        } perform: { input, call in
            let created = try SubscriptionService.create(
                input, now: call.now, config: call.context.config, on: call.database())
            return .json(201, created.subscription)
        }

        api.read("/subscriptions") { call in
            var query = try call.query()
            let customerID = query.id("customer_id", as: Customer.self)
            let planID = query.id("plan_id", as: Plan.self)
            let status = query.oneOf("status", statuses)
            let page = query.page()
            try query.finish()
            return .json(
                200,
                try SubscriptionService.list(
                    customerID: customerID, planID: planID, status: status, page: page, on: call.database()))
        }

        api.read("/subscriptions/{id}") { call in
            .json(200, try SubscriptionService.get(call.id(0, "subscription"), on: call.database()))
        }

        api.read("/subscriptions/{id}/upcoming-invoice") { call in
            .json(
                200,
                try SubscriptionService.upcomingInvoice(
                    call.id(0, "subscription"), now: call.now, config: call.context.config, on: call.database()))
        }
    }
}
