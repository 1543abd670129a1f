import Billing
import Common
import HTTP

/// Reads a plan's `charges` (`usage.md`): each names its meter and one pricing model, with
/// exact sub-cent prices as decimal strings.
enum ChargeFields {
    static let maximumCharges = 10
    static let maximumTiers = 20
    /// A unit price is at most a line's limit, with at most 12 decimals.
    static let unitAmountLimit = ExactDecimal(Validation.amountRange.upperBound)

    static func charges(_ reader: inout FieldReader) -> [UsageCharge]? {
        guard let elements = reader.objects("charges", maxCount: maximumCharges) else { return [] }
        var charges: [UsageCharge] = []
        var valid = true
        for var element in elements {
            let meter = element.id("meter_id", required: true, as: Meter.self)
            let model = self.model(&element)
            reader.absorb(element)
            if let meter, let model { charges.append(UsageCharge(meterID: meter, model: model)) } else { valid = false }
        }
        if Set(charges.map(\.meterID)).count != charges.count {
            reader.fail("charges", "must charge each meter once")
            valid = false
        }
        return valid ? charges : nil
    }

    private static func model(_ reader: inout FieldReader) -> UsageCharge.Model? {
        guard let name = reader.string("model", required: true, maxLength: 20) else { return nil }
        switch name {
        case "per_unit":
            return unitAmount(&reader, "unit_amount").map(UsageCharge.Model.perUnit)
        case "package":
            let size = reader.integer("package_size", required: true, in: 1...1_000_000_000_000)
            let amount = reader.integer("package_amount_cents", required: true, in: Validation.amountRange)
            guard let size, let amount else { return nil }
            return .package(size: size, amountCents: amount)
        case "graduated":
            return tiers(&reader).map(UsageCharge.Model.graduated)
        case "volume":
            return tiers(&reader).map(UsageCharge.Model.volume)
        default:
            reader.fail("model", "must be one of per_unit, package, graduated, volume")
            return nil
        }
    }

    /// Tiers ascending by `up_to`, the last one open (`up_to: null`).
    private static func tiers(_ reader: inout FieldReader) -> [UsageCharge.Tier]? {
        guard let elements = reader.objects("tiers", required: true, maxCount: maximumTiers) else { return nil }
        guard !elements.isEmpty else {
            reader.fail("tiers", "must have at least one tier")
            return nil
        }
        var tiers: [UsageCharge.Tier] = []
        var valid = true
        for (index, var element) in elements.enumerated() {
            let isLast = index == elements.count - 1
            var upTo: Int64?
            if case .null? = element.peek("up_to") {
                element.markKnown("up_to")
                if !isLast { element.fail("up_to", "may be null on the last tier only") }
            } else {
                upTo = element.integer("up_to", required: true, in: 1...1_000_000_000_000_000)
                if isLast, upTo != nil { element.fail("up_to", "must be null on the last tier") }
                if let upTo, let previous = tiers.last?.upTo, upTo <= previous {
                    element.fail("up_to", "must be greater than the previous tier's, \(previous)")
                }
            }
            let unit = unitAmount(&element, "unit_amount")
            let flat = element.integer("flat_amount_cents", in: Validation.amountRange) ?? 0
            let before = element.problems.count
            reader.absorb(element)
            if let unit, before == 0 {
                tiers.append(UsageCharge.Tier(upTo: upTo, unitAmount: unit, flatAmountCents: flat))
            } else {
                valid = false
            }
        }
        return valid ? tiers : nil
    }

    /// A price of one unit: a decimal string of minor units, at most 12 decimals.
    private static func unitAmount(_ reader: inout FieldReader, _ name: String) -> ExactDecimal? {
        if case .number? = reader.peek(name) {
            reader.markKnown(name)
            reader.fail(name, "must be a string such as \"0.0004\", not a number: no floats in money")
            return nil
        }
        guard let text = reader.string(name, required: true, maxLength: 40) else { return nil }
        guard let amount = ExactDecimal(parsing: text), amount >= .zero, amount <= unitAmountLimit else {
            reader.fail(name, "must be a decimal string of minor units from 0 to 10^12 with at most 12 decimals")
            return nil
        }
        return amount
    }
}
