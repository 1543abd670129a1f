import Common

/// One charge of a plan (`usage.md`): how the quantity a meter aggregated over a window is
/// priced. Prices are exact; the amount is rounded once, half away from zero, per line.
public struct UsageCharge: Equatable, Sendable {
    public struct Tier: Equatable, Sendable {
        /// The last unit of the tier, inclusive; nil on the last tier.
        public var upTo: Int64?
        public var unitAmount: ExactDecimal
        public var flatAmountCents: Int64
        public init(upTo: Int64?, unitAmount: ExactDecimal, flatAmountCents: Int64 = 0) {
            self.upTo = upTo
            self.unitAmount = unitAmount
            self.flatAmountCents = flatAmountCents
        }
    }

    public enum Model: Equatable, Sendable {
        case perUnit(ExactDecimal)
        case package(size: Int64, amountCents: Int64)
        case graduated([Tier])
        case volume([Tier])

        public var name: String {
            switch self {
            case .perUnit: "per_unit"
            case .package: "package"
            case .graduated: "graduated"
            case .volume: "volume"
            }
        }
    }

    public var meterID: ID<Meter>
    public var model: Model

    public init(meterID: ID<Meter>, model: Model) {
        self.meterID = meterID
        self.model = model
    }

    /// The exact price of `quantity`, rounded once to minor units; nil past a line's limit.
    /// A quantity of 0 or less bills 0 in every model (a negative sum is no credit).
    public func amount(for quantity: ExactDecimal) -> Int64? {
        guard quantity > .zero else { return 0 }
        var amount = ExactAmount()
        switch model {
        case .perUnit(let unit):
            amount.add(quantity, times: unit)
        case .package(let size, let cents):
            amount.add(count: quantity.ceilingDivided(by: size), timesCents: cents)
        case .graduated(let tiers):
            var floor = ExactDecimal.zero
            for tier in tiers {
                let ceiling = tier.upTo.map(ExactDecimal.init) ?? quantity
                let top = min(quantity, ceiling)
                // Each unit is priced by the tier it falls in; a tier entered adds its flat amount.
                guard top > floor else { break }
                amount.add(ExactDecimal(scaled: top.scaled - floor.scaled), times: tier.unitAmount)
                amount.add(count: 1, timesCents: tier.flatAmountCents)
                floor = top
            }
        case .volume(let tiers):
            // Every unit at the price of the tier the total falls in, plus its flat amount.
            let tier = tiers.first { $0.upTo.map { quantity <= ExactDecimal($0) } ?? true } ?? tiers[tiers.count - 1]
            amount.add(quantity, times: tier.unitAmount)
            amount.add(count: 1, timesCents: tier.flatAmountCents)
        }
        return amount.rounded(within: Pricing.lineLimit)
    }
}

extension UsageCharge: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("meter_id", meterID)
        json.field("model", model.name)
        switch model {
        case .perUnit(let unit):
            json.field("unit_amount", unit.description)
        case .package(let size, let cents):
            json.field("package_size", size)
            json.field("package_amount_cents", cents)
        case .graduated(let tiers), .volume(let tiers):
            json.key("tiers")
            json.beginArray()
            for tier in tiers {
                json.beginObject()
                json.field("up_to", tier.upTo)
                json.field("unit_amount", tier.unitAmount.description)
                json.field("flat_amount_cents", tier.flatAmountCents)
                json.endObject()
            }
            json.endArray()
        }
        json.endObject()
    }
}

extension UsageCharge {
    /// The charges of a plan from the JSON the service stored (`plans.charges`), which only
    /// it writes: anything else there is a broken invariant, reported, never guessed at.
    static func decodeStored(_ text: String) throws -> [UsageCharge] {
        guard text != "[]" else { return [] }
        guard case .array(let items) = try JSONParser.parse(Array(text.utf8)) else {
            throw StoredDataError("a plan's stored charges are not an array")
        }
        return try items.map { item in
            guard case .object(let members) = item else { throw StoredDataError("a stored charge") }
            func member(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
            func string(_ value: JSONValue?) -> String? {
                if case .string(let text)? = value { return text }
                return nil
            }
            func integer(_ value: JSONValue?) -> Int64? {
                if case .number(let text)? = value { return Int64(text) }
                return nil
            }
            func decimal(_ value: JSONValue?) throws -> ExactDecimal {
                guard let text = string(value), let amount = ExactDecimal(parsing: text) else {
                    throw StoredDataError("a stored charge's unit amount")
                }
                return amount
            }
            func tiers() throws -> [Tier] {
                guard case .array(let tiers)? = member("tiers") else { throw StoredDataError("stored tiers") }
                return try tiers.map { tier in
                    guard case .object(let fields) = tier else { throw StoredDataError("a stored tier") }
                    func field(_ key: String) -> JSONValue? { fields.first { $0.key == key }?.value }
                    return Tier(
                        upTo: integer(field("up_to")), unitAmount: try decimal(field("unit_amount")),
                        flatAmountCents: integer(field("flat_amount_cents")) ?? 0)
                }
            }
            guard let meter = string(member("meter_id")).flatMap(ID<Meter>.init(parsing:)) else {
                throw StoredDataError("a stored charge's meter")
            }
            let model: Model
            switch string(member("model")) {
            case "per_unit": model = .perUnit(try decimal(member("unit_amount")))
            case "package":
                guard let size = integer(member("package_size")), let cents = integer(member("package_amount_cents"))
                else { throw StoredDataError("a stored package charge") }
                model = .package(size: size, amountCents: cents)
            case "graduated": model = .graduated(try tiers())
            case "volume": model = .volume(try tiers())
            default: throw StoredDataError("a stored charge's model")
            }
            return UsageCharge(meterID: meter, model: model)
        }
    }
}

/// Data only the service writes was found broken: a defect to report, not a client's error.
struct StoredDataError: Error, CustomStringConvertible {
    var description: String
    init(_ what: String) { description = "unreadable stored data: \(what)" }
}
