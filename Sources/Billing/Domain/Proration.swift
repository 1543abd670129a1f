import Common

/// Exact proration: `amount × remaining / length`, rounded half away from zero to the
/// minor unit, computed in 128 bits so that 10^12 × a year in seconds cannot overflow.
public enum Proration {
    /// The part of `amount` that `remaining` seconds of a `length`-second period are worth.
    public static func share(of amount: Int64, remaining: Int64, of length: Int64) -> Int64 {
        precondition(length > 0, "a period has a positive length")
        let remaining = min(max(remaining, 0), length)
        let negative = amount < 0
        let magnitude = amount.magnitude
        let product = magnitude.multipliedFullWidth(by: UInt64(remaining))
        let (quotient, remainder) = UInt64(length).dividingFullWidth(product)
        let rounded = remainder * 2 >= UInt64(length) ? quotient + 1 : quotient
        return negative ? -Int64(rounded) : Int64(rounded)
    }

    /// A stored invoice line: what was billed for `start ..< end`.
    public struct BilledLine: Equatable, Sendable {
        public var amount: Int64
        public var start: Timestamp
        public var end: Timestamp
        public init(amount: Int64, start: Timestamp, end: Timestamp) {
            self.amount = amount
            self.start = start
            self.end = end
        }
    }

    /// What the billed lines are worth after `now`: each line's share of its own span that
    /// is still to come (one rounding per line, as each line was billed). Nil if the sum
    /// leaves Int64 (it cannot for lines within the amount limits, but no sum traps).
    public static func unused(of lines: [BilledLine], at now: Timestamp) -> Int64? {
        var total: Int64 = 0
        for line in lines where line.end > line.start {
            let remaining = line.end.epochSeconds - max(now, line.start).epochSeconds
            let (sum, overflow) = total.addingReportingOverflow(
                share(of: line.amount, remaining: remaining, of: line.end.epochSeconds - line.start.epochSeconds))
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }
}
