import Billing
import Common
import HTTP

/// `/subscriptions/{id}/cancel`, `/resume`, `/change-plan`, `/pending-update`, `/pause` and
/// `/unpause`.
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

        api.write("DELETE", "/subscriptions/{id}/pending-update", bodyOptional: true) { _ in
        } perform: { _, call in
            .json(
                200,
                try SubscriptionService.removePendingUpdate(
                    call.id(0, "subscription"), now: call.now, config: call.context.config, on: call.database()))
        }

        api.write("POST", "/subscriptions/{id}/pause") { reader -> PauseCollection? in
            let behavior = Validation.choice(&reader, "behavior", required: true, as: PauseCollection.Behavior.self)
            let resumesAt = reader.timestamp("resumes_at")
            guard let behavior else { return nil }
            return PauseCollection(behavior: behavior, resumesAt: resumesAt)
        } perform: { pause, call in
            .json(
                200,
                try SubscriptionService.pause(
                    call.id(0, "subscription"), pause, now: call.now, config: call.context.config,
                    on: call.database()))
        }

        api.write("POST", "/subscriptions/{id}/unpause", bodyOptional: true) { _ in
        } perform: { _, call in
            .json(
                200,
                try SubscriptionService.unpause(
                    call.id(0, "subscription"), now: call.now, config: call.context.config, on: call.database()))
        }

        // With `"preview": true` the change runs and is rolled back: the answer shows what
        // it would do, and nothing is stored (no event, no number, no idempotency record).
        api.write("POST", "/subscriptions/{id}/change-plan") { reader -> (SubscriptionService.Change, preview: Bool)? in
            let planID = reader.id("plan_id", as: Plan.self)
            let quantity = reader.integer("quantity", in: InvoiceItemRoutes.quantities)
            let prorate = reader.bool("prorate") ?? true
            let preview = reader.bool("preview") ?? false
            let rates = reader.ids("tax_rate_ids", maxCount: TaxRateService.maximumRates, as: TaxRate.self)
            let atPeriodEnd = reader.bool("at_period_end") ?? false
            guard reader.has("plan_id") || reader.has("quantity") else {
                reader.fail("plan_id", "is required unless quantity is given")
                return nil
            }
            return (
                .init(
                    planID: planID, quantity: quantity.map { Int($0) }, prorate: prorate, taxRateIDs: rates,
                    atPeriodEnd: atPeriodEnd), preview
            )
        } dryRun: { input in
            input.preview
        } perform: { input, call in
            var changed = try SubscriptionService.changePlan(
                call.id(0, "subscription"), input.0, now: call.now, config: call.context.config, on: call.database())
            if input.preview { changed.invoice?.markAsPreview() }
            return .json(200, changed)
        }
    }
}
