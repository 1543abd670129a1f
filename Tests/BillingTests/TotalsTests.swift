import Common
import Testing

@testable import Billing

/// `invoicing.md` §7: the totals in one order, exact integers, one rounding per rate per
/// invoice — every worked example, and properties over generated invoices.
@Suite struct TotalsTests {
    private let start = Timestamp(epochSeconds: 1_769_904_000)

    private func line(_ amount: Int64, _ kind: InvoiceLine.Kind = .subscription) -> PricedLine {
        PricedLine(kind: kind, description: "x", amount: amount, unitAmount: amount, start: start, end: start)
    }

    private func percent(_ text: String) -> Percentage {
        Percentage(parsing: text, maxDecimals: 4, in: 0...1_000_000)!
    }

    private func rate(_ text: String, inclusive: Bool = false, id: UInt64 = 1) -> TaxTerms {
        TaxTerms(rateID: UUID128(high: 0, low: id), displayName: "VAT", percentage: percent(text), inclusive: inclusive)
    }

    @Test func tenThousandWithTwelveAndAHalfPercentOffAndNineteenPercentExclusive() throws {
        let totals = try Pricing.totals(
            of: [line(10000)], discount: .percentOff(percent("12.5")), rates: [rate("19")], balance: 0)
        #expect(totals.discount == 1250)
        #expect(totals.tax == 1663)  // 1662.5 rounds half away from zero
        #expect(totals.total == 10413 && totals.amountDue == 10413)
        #expect(totals.taxes[0].taxableAmount == 8750)
    }

    @Test func nineteenPercentInclusiveIsInsideTheTotal() throws {
        let totals = try Pricing.totals(of: [line(11900)], rates: [rate("19", inclusive: true)], balance: 0)
        #expect(totals.tax == 1900 && totals.total == 11900)
        #expect(totals.taxes[0].taxableAmount == 10000)
    }

    @Test func anAmountOffLargerThanTheInvoiceLeavesZeroPaidAtOnce() throws {
        let totals = try Pricing.totals(of: [line(3000)], discount: .amountOff(5000), balance: 0)
        #expect(totals.discount == 3000 && totals.total == 0 && totals.amountDue == 0)
    }

    @Test func aProrationCreditAndChargeAreTaxedOnTheirSum() throws {
        let totals = try Pricing.totals(
            of: [line(-500, .proration), line(1000, .proration)], rates: [rate("20")], balance: 0)
        #expect(totals.tax == 100 && totals.total == 600)
    }

    @Test func oneRoundingPerRateNeverPerLine() throws {
        let totals = try Pricing.totals(of: [line(333), line(333), line(333)], rates: [rate("20")], balance: 0)
        #expect(totals.tax == 200)  // per line it would be 3 × 67 = 201
    }

    @Test func aDiscountAppliesToTheSubscriptionsLinesNotToItems() throws {
        let totals = try Pricing.totals(
            of: [line(1000), line(5000, .item)], discount: .percentOff(percent("50")), balance: 0)
        #expect(totals.discount == 500 && totals.total == 5500)
    }

    @Test func severalInclusiveRatesShareOneDenominator() throws {
        // 12000 with 10% and 10% inclusive: each is 12000 × 10 / 120 = 1000.
        let totals = try Pricing.totals(
            of: [line(12000)], rates: [rate("10", inclusive: true), rate("10", inclusive: true, id: 2)], balance: 0)
        #expect(totals.tax == 2000 && totals.total == 12000)
        #expect(totals.taxes.map(\.taxableAmount) == [10000, 10000])
    }

    @Test(arguments: [
        ("19", Int64?(190_000)), ("12.5", 125_000), ("0.0001", 1), ("99.9999", 999_999), ("0", 0), ("100", nil),
        ("1.23456", nil), ("-1", nil), ("1e2", nil), (".5", nil), ("5.", nil), ("", nil), ("019", 190_000),
        ("1000", nil), (" 1", nil),
    ])
    func percentagesParseExactlyOrNotAtAll(text: String, expected: Int64?) {
        #expect(Percentage(parsing: text, maxDecimals: 4, in: 0...999_999)?.tenThousandths == expected)
    }

    @Test func percentagesPrintTheirShortestExactForm() {
        #expect(percent("19").description == "19")
        #expect(percent("12.50").description == "12.5")
        #expect(percent("0.0001").description == "0.0001")
        #expect(percent("7.6540").description == "7.654")
    }

    /// Generated invoices (a fixed seed, so a failure reproduces): the identities §7 promises.
    @Test func propertiesHoldForGeneratedInvoices() throws {
        var generator = SplitMix(seed: 20_261_130)
        for _ in 0..<5000 {
            let count = Int(generator.next() % 6) + 1
            let lines = (0..<count).map { _ in
                line(
                    Int64(generator.next() % 2_000_001) - 500_000,
                    [.subscription, .proration, .item][Int(generator.next() % 3)])
            }
            let discount: DiscountTerms? =
                switch generator.next() % 3 {
                case 0: nil
                case 1: .percentOff(Percentage(tenThousandths: Int64(generator.next() % 1_000_000) + 1))
                default: .amountOff(Int64(generator.next() % 1_000_000))
                }
            let inclusive = generator.next() % 2 == 0
            let rates = (0..<Int(generator.next() % 4)).map { index in
                TaxTerms(
                    rateID: UUID128(high: 0, low: UInt64(index)), displayName: "T",
                    percentage: Percentage(tenThousandths: Int64(generator.next() % 1_000_000)), inclusive: inclusive)
            }
            let totals = try Pricing.totals(of: lines, discount: discount, rates: rates, balance: 0)
            let taxable = totals.subtotal - totals.discount
            let exclusive = totals.taxes.filter { !$0.terms.inclusive }.reduce(0) { $0 + $1.amount }
            #expect(totals.total == taxable + exclusive)
            let base = max(0, lines.filter { $0.kind != .item }.reduce(0) { $0 + $1.amount })
            #expect(totals.discount >= 0 && totals.discount <= base)
            if inclusive { #expect(totals.total == taxable, "inclusive tax never changes the total") }
            #expect(totals.taxes.count == rates.count && totals.tax == totals.taxes.reduce(0) { $0 + $1.amount })
            if taxable >= 0 { #expect(totals.tax >= 0) } else { #expect(totals.tax <= 0) }
            // §8: a credit note's share of the tax never exceeds the invoice's tax.
            if totals.total > 0 && totals.tax >= 0 {
                let credited = Int64(generator.next() % UInt64(totals.total)) + 1
                let share = roundedShare(of: totals.tax, times: credited, over: totals.total)
                #expect(share >= 0 && share <= totals.tax)
            }
        }
    }
}

/// A small deterministic generator for property tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
