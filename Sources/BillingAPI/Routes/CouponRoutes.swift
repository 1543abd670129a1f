import Billing
import Common
import HTTP

/// `/coupons`, and a subscription's discount (`/subscriptions/{id}/discount`).
enum CouponRoutes {
    static let immutableFields = [
        "code", "percent_off", "amount_off_cents", "currency", "duration", "duration_in_periods", "max_redemptions",
        "redeem_by",
    ]

    static func register(in api: inout API) {
        api.write("POST", "/coupons") { reader -> CouponService.Create? in
            let code = reader.string("code", required: true, maxLength: 100)
            let name = reader.string("name", required: true, maxLength: 200)
            let hasPercent = reader.has("percent_off")
            let hasAmount = reader.has("amount_off_cents")
            // 0.01 … 100, two decimals at most: in ten-thousandths, 100 … 1,000,000.
            let percent = Validation.percentage(
                &reader, "percent_off", maxDecimals: 2, in: 100...1_000_000, required: false)
            let amount = reader.integer("amount_off_cents", in: 1...Pricing.lineLimit)
            var currency: String?
            if hasAmount {
                currency = Validation.currency(&reader)
            } else if reader.has("currency") {
                reader.markKnown("currency")
                reader.fail("currency", "goes with amount_off_cents only")
            }
            if hasPercent == hasAmount {
                reader.fail("percent_off", "give exactly one of percent_off or amount_off_cents (with currency)")
            }
            let duration = Validation.choice(&reader, "duration", required: true, as: Coupon.Duration.self)
            let periods = reader.integer("duration_in_periods", in: 1...120)
            if duration == .repeating && !reader.has("duration_in_periods") {
                reader.fail("duration_in_periods", "is required for a repeating coupon")
            } else if let duration, duration != .repeating && reader.has("duration_in_periods") {
                reader.fail("duration_in_periods", "applies to repeating coupons only")
            }
            let maxRedemptions = reader.integer("max_redemptions", in: 1...1_000_000_000)
            let redeemBy = reader.timestamp("redeem_by")
            guard let code, let name, let duration else { return nil }
            return CouponService.Create(
                code: code, name: name, percentOff: percent,
                amountOff: amount.flatMap { amount in currency.map { (amount, $0) } }, duration: duration,
                durationInPeriods: periods.map { Int($0) }, maxRedemptions: maxRedemptions.map { Int($0) },
                redeemBy: redeemBy)
        } perform: { input, call in
            .json(201, try CouponService.create(input, now: call.now, on: call.database()))
        }

        api.read("/coupons") { call in
            var query = try call.query()
            let isActive = query.bool("is_active")
            let page = query.page()
            try query.finish()
            return .json(200, try CouponService.list(isActive: isActive, page: page, on: call.database()))
        }

        api.read("/coupons/{id}") { call in
            .json(200, try CouponService.get(call.id(0, "coupon"), on: call.database()))
        }

        api.write("PATCH", "/coupons/{id}") { reader in
            for field in immutableFields where reader.has(field) {
                reader.markKnown(field)
                reader.fail(field, "never changes; create a new coupon instead")
            }
            return (name: reader.string("name", maxLength: 200), isActive: reader.bool("is_active"))
        } perform: { input, call in
            .json(
                200,
                try CouponService.update(
                    call.id(0, "coupon"), name: input.name, isActive: input.isActive, now: call.now,
                    on: call.database()))
        }

        api.write("POST", "/subscriptions/{id}/discount") { reader in
            reader.string("coupon", required: true, maxLength: 100)
        } perform: { code, call in
            .json(
                200,
                try SubscriptionService.applyDiscount(
                    call.id(0, "subscription"), coupon: code, now: call.now, config: call.context.config,
                    on: call.database()))
        }

        api.write("DELETE", "/subscriptions/{id}/discount", bodyOptional: true) { _ in
        } perform: { _, call in
            .json(
                200,
                try SubscriptionService.removeDiscount(
                    call.id(0, "subscription"), now: call.now, config: call.context.config, on: call.database()))
        }
    }
}
