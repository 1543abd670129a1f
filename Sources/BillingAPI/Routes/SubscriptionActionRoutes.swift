import Billing
import Common
import HTTP

/// `/subscriptions/{id}/cancel`, `/resume` and `/change-plan`.
enum SubscriptionActionRoutes {
    static func register(in api: inout API) {
        api.write("POST", "/subscriptions/{id}/cancel", bodyOptional: true) { reader in
            (atPeriodEnd: reader.bool("at_period_end") ?? false, prorate: reader.bool("prorate") ?? false)
        } perform: { input, call in
            .json(
                200,
                try SubscriptionService.cancel(
                    call.id(0, "subscription"), atPeriodEnd: input.atPeriodEnd, prorate: input.prorate, now: call.now,
                    config: call.context.config, on: call.database()))
        }

        api.write("POST", "/subscriptions/{id}/resume", bodyOptional: true) { _ in
        } perform: { _, call in
            .json(
                200,
                try SubscriptionService.resume(
                    call.id(0, "subscription"), now: call.now, config: call.context.config, on: call.database()))
        }

        api.write("POST", "/subscriptions/{id}/change-plan") { reader -> (planID: ID<Plan>, prorate: Bool)? in
            let planID = reader.id("plan_id", required: true, as: Plan.self)
            let prorate = reader.bool("prorate") ?? true
            return planID.map { (planID: $0, prorate: prorate) }
        } perform: { input, call in
            .json(
                200,
                try SubscriptionService.changePlan(
                    call.id(0, "subscription"), to: input.planID, prorate: input.prorate, now: call.now,
                    config: call.context.config, on: call.database()))
        }
    }
}
