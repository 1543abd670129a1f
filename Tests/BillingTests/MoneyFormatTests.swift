import Testing

@testable import Billing

/// documents.md: amounts written by their currency's minor unit, exactly.
@Suite struct MoneyFormatTests {
    @Test(arguments: [
        (Int64(1500), "JPY", "¥1,500"),
        (2500, "EUR", "€25.00"),
        (1500, "KWD", "KWD 1.500"),
        (0, "EUR", "€0.00"),
        (5, "EUR", "€0.05"),
        (-2500, "USD", "-$25.00"),
        (123_456_789, "USD", "$1,234,567.89"),
        (100_000, "CHF", "CHF 1,000.00"),
        (1, "BHD", "BHD 0.001"),
        (999, "jpy", "¥999"),
        (1_000_000_000_000, "EUR", "€10,000,000,000.00"),
        (Int64.min, "USD", "-$92,233,720,368,547,758.08"),
    ])
    func writesMinorUnits(amount: Int64, currency: String, expected: String) {
        #expect(MoneyFormat.format(amount, currency: currency) == expected)
    }

    /// Reading the digits back gives the amount: nothing is rounded or lost.
    @Test func roundTripsEveryMagnitude() {
        var value: Int64 = 7
        while value < Int64.max / 10 {
            let text = MoneyFormat.format(value, currency: "EUR")
            let digits = text.filter(\.isNumber)
            #expect(Int64(digits) == value)
            value = value * 10 + 3
        }
    }
}
