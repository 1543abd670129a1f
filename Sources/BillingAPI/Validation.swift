import Billing
import Common
import HTTP

/// Field rules shared by several routes.
enum Validation {
    /// Amounts are 0 … 10^12 minor units.
    static let amountRange: ClosedRange<Int64> = 0...1_000_000_000_000

    /// An email address: one `@` with text on both sides, a dot in the domain, no spaces.
    static func email(_ reader: inout FieldReader, required: Bool) -> String? {
        guard let email = reader.string("email", required: required, maxLength: 254) else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        let valid =
            parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !parts[1].hasPrefix(".")
            && !parts[1].hasSuffix(".")
            && !email.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 }
        guard valid else {
            reader.fail("email", "must be an email address")
            return nil
        }
        return email
    }

    /// An IANA time zone name (`Europe/Paris`) the tz database knows, exactly as it spells it.
    static func zone(_ reader: inout FieldReader) -> Zone? {
        guard let name = reader.string("timezone", maxLength: 64) else { return nil }
        guard let zone = Zone(named: name) else {
            reader.fail("timezone", "must be an IANA time zone name such as Europe/Paris or UTC")
            return nil
        }
        return zone
    }

    /// An upper-case ISO 4217 code the service knows.
    static func currency(_ reader: inout FieldReader) -> String? {
        guard let code = reader.string("currency", required: true, maxLength: 3) else { return nil }
        guard Currency(code: code) != nil else {
            reader.fail("currency", "must be an upper-case ISO 4217 currency code such as EUR or USD")
            return nil
        }
        return code
    }

    /// A percentage sent as a JSON string with at most `maxDecimals` decimals, within
    /// `range` (in ten-thousandths of a percent). A JSON number is refused: no floats in money.
    static func percentage(
        _ reader: inout FieldReader, _ name: String, maxDecimals: Int, in range: ClosedRange<Int64>,
        required: Bool = true
    ) -> Percentage? {
        let bounds =
            "\(Percentage(tenThousandths: range.lowerBound)) to \(Percentage(tenThousandths: range.upperBound))"
        if reader.has(name), case .number = reader.peek(name) {
            reader.markKnown(name)
            reader.fail(name, "must be a string such as \"19.5\", not a number: no floats in money")
            return nil
        }
        guard let text = reader.string(name, required: required, maxLength: 12) else { return nil }
        guard let value = Percentage(parsing: text, maxDecimals: maxDecimals, in: range) else {
            reader.fail(name, "must be a decimal string from \(bounds) with at most \(maxDecimals) decimals")
            return nil
        }
        return value
    }

    /// One of the values of `Value`, by name (`"calendar"`).
    static func choice<Value: RawRepresentable & CaseIterable>(
        _ reader: inout FieldReader, _ name: String, required: Bool = false, as: Value.Type
    ) -> Value? where Value.RawValue == String {
        guard let text = reader.string(name, required: required, maxLength: 40) else { return nil }
        guard let value = Value(rawValue: text) else {
            reader.fail(name, "must be one of: \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }

    /// `interval` and `interval_count`, together at most one year.
    static func interval(_ reader: inout FieldReader) -> BillingInterval? {
        let units = BillingInterval.Unit.allCases.map(\.rawValue)
        let unitText = reader.string("interval", required: true, maxLength: 10)
        let count = reader.integer("interval_count", in: 1...365) ?? 1
        guard let unitText else { return nil }
        guard let unit = BillingInterval.Unit(rawValue: unitText) else {
            reader.fail("interval", "must be one of: \(units.joined(separator: ", "))")
            return nil
        }
        let interval = BillingInterval(unit: unit, count: Int(count))
        guard interval.isValid else {
            reader.fail(
                "interval_count",
                "must be at most \(BillingInterval.maximumCount(for: unit)) for \(unit.rawValue): at most one year")
            return nil
        }
        return interval
    }
}
