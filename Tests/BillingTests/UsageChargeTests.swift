import Common
import Testing

@testable import Billing

/// `usage.md`: exact quantities and sub-cent prices, every worked example of the contract,
/// one rounding per line, and properties over generated tiers.
@Suite struct UsageChargeTests {
    private let meter = ID<Meter>(UUID128(high: 0, low: 1))

    private func decimal(_ text: String) -> ExactDecimal { ExactDecimal(parsing: text)! }

    private func charge(_ model: UsageCharge.Model) -> UsageCharge { UsageCharge(meterID: meter, model: model) }

    /// [up to 100 at "0" + flat 0, up to 1000 at "2", rest at "1"]: the contract's tiers.
    private let tiers = [
        UsageCharge.Tier(upTo: 100, unitAmount: ExactDecimal(0)),
        UsageCharge.Tier(upTo: 1000, unitAmount: ExactDecimal(2)),
        UsageCharge.Tier(upTo: nil, unitAmount: ExactDecimal(1)),
    ]

    @Test func theWorkedExamples() {
        #expect(charge(.perUnit(decimal("0.0004"))).amount(for: ExactDecimal(1_234_567)) == 494)  // 493.8268
        #expect(charge(.graduated(tiers)).amount(for: ExactDecimal(1500)) == 2300)
        #expect(charge(.volume(tiers)).amount(for: ExactDecimal(1500)) == 1500)
        #expect(charge(.volume(tiers)).amount(for: ExactDecimal(1000)) == 2000)
        #expect(charge(.package(size: 1000, amountCents: 500)).amount(for: ExactDecimal(2001)) == 1500)
    }

    @Test func nothingUsedBillsNothingInEveryModel() {
        let flat = [UsageCharge.Tier(upTo: nil, unitAmount: ExactDecimal(3), flatAmountCents: 700)]
        for model in [
            UsageCharge.Model.perUnit(decimal("9")), .package(size: 10, amountCents: 5), .graduated(flat),
            .volume(flat),
        ] {
            #expect(charge(model).amount(for: .zero) == 0)
            #expect(charge(model).amount(for: decimal("-5")) == 0)
        }
    }

    @Test func flatAmountsComeWithTheTiersReached() {
        let flats = [
            UsageCharge.Tier(upTo: 10, unitAmount: ExactDecimal(1), flatAmountCents: 100),
            UsageCharge.Tier(upTo: nil, unitAmount: ExactDecimal(1), flatAmountCents: 1000),
        ]
        #expect(charge(.graduated(flats)).amount(for: ExactDecimal(10)) == 110)
        #expect(charge(.graduated(flats)).amount(for: decimal("10.5")) == 1111)  // 100 + 10 + 1000 + 0.5 → 1110.5
        #expect(charge(.volume(flats)).amount(for: ExactDecimal(10)) == 110)
        #expect(charge(.volume(flats)).amount(for: ExactDecimal(11)) == 1011)
    }

    @Test func oneRoundingPerLineHalfAwayFromZero() {
        #expect(charge(.perUnit(decimal("0.5"))).amount(for: ExactDecimal(1)) == 1)
        #expect(charge(.perUnit(decimal("0.5"))).amount(for: ExactDecimal(3)) == 2)
        #expect(charge(.perUnit(decimal("0.499999999999"))).amount(for: ExactDecimal(1)) == 0)
        // Three units at a third of a cent: 0.999999999999 rounded once is 1, not three times 0.
        #expect(charge(.perUnit(decimal("0.333333333333"))).amount(for: decimal("3")) == 1)
        // Started packages: 1000.000000000001 units start a second one.
        #expect(charge(.package(size: 1000, amountCents: 500)).amount(for: decimal("1000.000000000001")) == 1000)
    }

    @Test func anAmountPastALineIsNil() {
        #expect(charge(.perUnit(decimal("1000000000000"))).amount(for: decimal("999999999999999")) == nil)
        #expect(charge(.perUnit(decimal("1"))).amount(for: ExactDecimal(1_000_000_000_000)) == 1_000_000_000_000)
        #expect(charge(.perUnit(decimal("1"))).amount(for: ExactDecimal(1_000_000_000_001)) == nil)
    }

    @Test func decimalsAreParsedExactlyOrNotAtAll() {
        #expect(decimal("0.1").adding(decimal("0.2")) == decimal("0.3"))
        #expect(decimal("-0.0004").description == "-0.0004")
        #expect(decimal("1234.500").description == "1234.5")
        #expect(decimal("0.000000000001").scaled == 1)
        for bad in ["", "-", ".5", "5.", "1e3", "NaN", "Infinity", "+1", "1.0000000000001", "0x10", "1 2", "١"] {
            #expect(ExactDecimal(parsing: bad) == nil, "\(bad)")
        }
        #expect(ExactDecimal(jsonNumber: "1.5e3") == ExactDecimal(1500))
        #expect(ExactDecimal(jsonNumber: "15E-1") == decimal("1.5"))
        #expect(ExactDecimal(jsonNumber: "-2.5e-12") == nil)  // 13 decimals
        #expect(ExactDecimal(jsonNumber: "1e999") == nil)
        #expect(ExactDecimal(jsonNumber: "1e-12") == decimal("0.000000000001"))
    }

    /// Random tiers with whole-cent prices: graduated priced unit by unit equals the closed
    /// form, volume is every unit at its total's tier; neither is assumed to be the larger.
    @Test func tiersPricedUnitByUnitEqualTheClosedForm() {
        var random = SplitMix64(seed: 14)
        var graduatedLarger = 0
        var volumeLarger = 0
        for _ in 0..<300 {
            var bound: Int64 = 0
            let tiers = (0..<Int.random(in: 1...4, using: &random)).map { _ in
                bound += Int64.random(in: 1...50, using: &random)
                return UsageCharge.Tier(
                    upTo: bound, unitAmount: ExactDecimal(Int64.random(in: 0...9, using: &random)),
                    flatAmountCents: Int64.random(in: 0...20, using: &random))
            }
            let open = tiers.dropLast() + [UsageCharge.Tier(upTo: nil, unitAmount: tiers.last!.unitAmount)]
            let quantity = Int64.random(in: 0...(bound + 30), using: &random)
            var unitByUnit: Int64 = 0
            var reached = Set<Int>()
            if quantity > 0 {
                for unit in 1...quantity {
                    let index = open.firstIndex { $0.upTo.map { unit <= $0 } ?? true }!
                    unitByUnit += Int64(open[index].unitAmount.scaled / ExactDecimal.scale)
                    reached.insert(index)
                }
            }
            unitByUnit += reached.reduce(0) { $0 + open[$1].flatAmountCents }
            let graduated = charge(.graduated(Array(open))).amount(for: ExactDecimal(quantity))
            #expect(graduated == unitByUnit)
            let tier = open.first { $0.upTo.map { quantity <= $0 } ?? true }!
            let volume = charge(.volume(Array(open))).amount(for: ExactDecimal(quantity))
            let closed =
                quantity == 0 ? 0 : quantity * Int64(tier.unitAmount.scaled / ExactDecimal.scale) + tier.flatAmountCents
            #expect(volume == closed)
            if let graduated, let volume {
                if graduated > volume { graduatedLarger += 1 }
                if volume > graduated { volumeLarger += 1 }
            }
        }
        #expect(graduatedLarger > 0 && volumeLarger > 0)
    }

    @Test func storedChargesReadBackAsWritten() throws {
        let charges = [
            charge(.perUnit(decimal("0.0004"))), charge(.package(size: 1000, amountCents: 500)),
            charge(.graduated(tiers)), charge(.volume(tiers)),
        ]
        #expect(try UsageCharge.decodeStored(charges.jsonString) == charges)
    }
}
