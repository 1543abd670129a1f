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

    /// The credit (negative) and charge lines of a plan change at `now` within `period`.
    public static func change(
        from oldAmount: Int64, to newAmount: Int64, at now: Int64, periodStart: Int64, periodEnd: Int64
    ) -> (credit: Int64, charge: Int64) {
        let length = periodEnd - periodStart
        let remaining = periodEnd - now
        return (
            -share(of: oldAmount, remaining: remaining, of: length),
            share(of: newAmount, remaining: remaining, of: length)
        )
    }
}
