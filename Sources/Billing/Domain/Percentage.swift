/// A percentage given as a JSON string (`"19"`, `"12.5"`, `"7.6543"`), kept exactly as an
/// integer of ten-thousandths of a percent: no float ever holds money's rates.
public struct Percentage: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The percentage × 10,000: `"19"` is 190,000, `"0.0001"` is 1.
    public let tenThousandths: Int64

    public static let scale: Int64 = 10_000

    public init(tenThousandths: Int64) { self.tenThousandths = tenThousandths }

    /// Parses digits with at most `maxDecimals` decimals (no sign, no exponent, no leading
    /// `.`), within `range` (in ten-thousandths); nil otherwise.
    public init?(parsing text: String, maxDecimals: Int, in range: ClosedRange<Int64>) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 3, whole.allSatisfy(\.isASCIIDigit) else {
            return nil
        }
        var fraction = parts.count == 2 ? parts[1] : ""
        guard parts.count == 1 || !fraction.isEmpty, fraction.count <= maxDecimals, fraction.allSatisfy(\.isASCIIDigit)
        else { return nil }
        fraction += String(repeating: "0", count: 4 - fraction.count)
        guard let units = Int64(whole), let parts = Int64(fraction) else { return nil }
        let value = units * Self.scale + parts
        guard range.contains(value) else { return nil }
        tenThousandths = value
    }

    /// The shortest exact decimal: `"19"`, `"12.5"`, `"0.0001"`.
    public var description: String {
        let whole = tenThousandths / Self.scale
        var fraction = String(tenThousandths % Self.scale)
        guard fraction != "0" else { return String(whole) }
        fraction = String(repeating: "0", count: 4 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

/// `value × numerator / denominator`, rounded half away from zero, in 128 bits: exact for
/// any amount within the limits and any percentage (the one rounding of §7).
func roundedShare(of value: Int64, times numerator: Int64, over denominator: Int64) -> Int64 {
    precondition(numerator >= 0 && denominator > 0, "a share is a non-negative fraction")
    let product = value.magnitude.multipliedFullWidth(by: numerator.magnitude)
    let (quotient, remainder) = denominator.magnitude.dividingFullWidth(product)
    let rounded = remainder * 2 >= denominator.magnitude ? quotient + 1 : quotient
    return value < 0 ? -Int64(rounded) : Int64(rounded)
}
