/// A decimal with at most 12 fractional digits, kept exactly as an integer of 10^-12 units
/// in 128 bits: usage quantities and sub-cent unit prices (`usage.md`). No float ever
/// holds one; PostgreSQL keeps them as `numeric`.
public struct ExactDecimal: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The value × 10^12.
    public let scaled: Int128

    public static let decimals = 12
    public static let scale: Int128 = 1_000_000_000_000
    public static let zero = ExactDecimal(scaled: 0)

    public init(scaled: Int128) { self.scaled = scaled }
    public init(_ integer: Int64) { scaled = Int128(integer) * Self.scale }

    /// Parses `-?digits(.digits)?` with at most `maxDecimals` decimals and an exponent-free
    /// form (`"1234.5"`, `"-0.0004"`); with `maxWholeDigits`, at most that many digits before
    /// the point. Nil for anything else (`"1e3"`, `"NaN"`, `"Infinity"`, `".5"`, `"+1"`).
    public init?(parsing text: some StringProtocol, maxDecimals: Int = decimals, maxWholeDigits: Int = 26) {
        var utf8 = Substring(text).utf8[...]
        let negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        var whole: Int128 = 0
        var wholeDigits = 0
        var fraction: Int128 = 0
        var fractionDigits = 0
        var inFraction = false
        for byte in utf8 {
            if byte == UInt8(ascii: ".") {
                guard !inFraction, wholeDigits > 0 else { return nil }
                inFraction = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int128(byte - UInt8(ascii: "0"))
            if inFraction {
                fractionDigits += 1
                guard fractionDigits <= maxDecimals else { return nil }
                fraction = fraction * 10 + digit
            } else {
                wholeDigits += 1
                guard wholeDigits <= maxWholeDigits else { return nil }
                whole = whole * 10 + digit
            }
        }
        guard wholeDigits > 0, !inFraction || fractionDigits > 0 else { return nil }
        for _ in fractionDigits..<Self.decimals { fraction *= 10 }
        let magnitude = whole * Self.scale + fraction
        scaled = negative ? -magnitude : magnitude
    }

    /// A JSON number's text, exponent and all (`1.5e3` is 1500), held to the same limits
    /// once its point is moved; nil when it needs more decimals than `maxDecimals`.
    public init?(jsonNumber text: String, maxDecimals: Int = decimals) {
        guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else {
            self.init(parsing: text, maxDecimals: maxDecimals)
            return
        }
        guard let exponent = Int(text[text.index(after: e)...]), abs(exponent) <= 40 else { return nil }
        let mantissa = text[..<e]
        let negative = mantissa.hasPrefix("-")
        let parts = mantissa.dropFirst(negative ? 1 : 0).split(separator: ".", omittingEmptySubsequences: false)
        var whole = String(parts[0])
        var fraction = parts.count > 1 ? String(parts[1]) : ""
        if exponent > 0 {
            let moved = fraction.prefix(exponent)
            whole += moved + String(repeating: "0", count: exponent - moved.count)
            fraction = String(fraction.dropFirst(moved.count))
        } else if exponent < 0 {
            let moved = whole.suffix(-exponent)
            fraction = String(repeating: "0", count: -exponent - moved.count) + moved + fraction
            whole = String(whole.dropLast(moved.count))
        }
        while whole.count > 1 && whole.hasPrefix("0") { whole.removeFirst() }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let normal = (negative ? "-" : "") + (whole.isEmpty ? "0" : whole) + (fraction.isEmpty ? "" : "." + fraction)
        self.init(parsing: normal, maxDecimals: maxDecimals)
    }

    /// The shortest exact decimal: `"2"`, `"-0.5"`, `"0.0004"`.
    public var description: String {
        let magnitude = scaled.magnitude
        let whole = magnitude / UInt128(Self.scale)
        var fraction = String(magnitude % UInt128(Self.scale))
        let sign = scaled < 0 ? "-" : ""
        guard fraction != "0" else { return "\(sign)\(whole)" }
        fraction = String(repeating: "0", count: Self.decimals - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(sign)\(whole).\(fraction)"
    }

    public static func < (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool { lhs.scaled < rhs.scaled }

    /// The sum, or nil when it leaves 128 bits.
    public func adding(_ other: ExactDecimal) -> ExactDecimal? {
        let (sum, overflow) = scaled.addingReportingOverflow(other.scaled)
        return overflow ? nil : ExactDecimal(scaled: sum)
    }

    /// The smallest integer ≥ self / `divisor` (`divisor` > 0): how many packages a
    /// quantity starts.
    public func ceilingDivided(by divisor: Int64) -> Int128 {
        let unit = Int128(divisor) * Self.scale
        let (quotient, remainder) = scaled.quotientAndRemainder(dividingBy: unit)
        return remainder > 0 ? quotient + 1 : quotient
    }
}

/// An amount of minor units kept with 24 fractional digits (a product of a quantity and a
/// unit price, each with 12) until it is rounded once, half away from zero. Every step
/// checks for overflow: an amount past 128 bits is past every limit of a line anyway.
struct ExactAmount {
    static let scale: Int128 = ExactDecimal.scale * ExactDecimal.scale
    private(set) var scaled: Int128 = 0
    private(set) var overflowed = false

    /// Adds `quantity × unitPrice`.
    mutating func add(_ quantity: ExactDecimal, times unitPrice: ExactDecimal) {
        let (product, overflow) = quantity.scaled.multipliedReportingOverflow(by: unitPrice.scaled)
        guard !overflow else {
            overflowed = true
            return
        }
        add(scaled: product)
    }

    /// Adds `count × cents`.
    mutating func add(count: Int128, timesCents cents: Int64) {
        let (units, overflow) = count.multipliedReportingOverflow(by: Int128(cents))
        guard !overflow else {
            overflowed = true
            return
        }
        let (product, overflow2) = units.multipliedReportingOverflow(by: Self.scale)
        guard !overflow2 else {
            overflowed = true
            return
        }
        add(scaled: product)
    }

    private mutating func add(scaled value: Int128) {
        let (sum, overflow) = scaled.addingReportingOverflow(value)
        if overflow { overflowed = true } else { scaled = sum }
    }

    /// Rounded once to whole minor units, half away from zero; nil past `limit`.
    func rounded(within limit: Int64) -> Int64? {
        guard !overflowed else { return nil }
        let (quotient, remainder) = scaled.magnitude.quotientAndRemainder(dividingBy: UInt128(Self.scale))
        let magnitude = remainder * 2 >= UInt128(Self.scale) ? quotient + 1 : quotient
        guard magnitude <= UInt128(limit) else { return nil }
        return scaled < 0 ? -Int64(magnitude) : Int64(magnitude)
    }
}
