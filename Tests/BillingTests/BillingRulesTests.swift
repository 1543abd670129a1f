import Billing
import Common
import Testing

private func t(_ text: String) -> Timestamp { Timestamp(parsing: text)! }

@Suite struct InvoiceTotalsTests {
    @Test(arguments: [
        // subtotal, balance → amount due, balance applied, new balance
        (Int64(1000), Int64(0), Int64(1000), Int64(0), Int64(0)),
        (1000, -300, 700, -300, 0),
        (1000, -1500, 0, -1000, -500),
        (-500, 0, 0, 500, -500),
        (1000, 200, 1200, 200, 0),
        (0, -300, 0, 0, -300),
    ])
    func appliesTheBalance(subtotal: Int64, balance: Int64, due: Int64, applied: Int64, newBalance: Int64) {
        let totals = InvoiceTotals(subtotal: subtotal, balance: balance)
        #expect(totals.amountDue == due)
        #expect(totals.balanceApplied == applied)
        #expect(totals.newBalance == newBalance)
    }

    /// Generated subtotals and balances: nothing negative is ever charged, an invoice that is
    /// charged takes the whole balance with it, and no invoice leaves more debt than it found.
    @Test func generatedTotalsChargeNothingNegativeAndCarryOnlyWhatIsLeft() {
        var generator = SplitMix64(seed: 11)
        for _ in 0..<10_000 {
            let subtotal = Int64(generator.next() % 200_000_000_000_001) - 100_000_000_000_000
            let balance = Int64(generator.next() % 2_000_000_000_000_001) - 1_000_000_000_000_000
            let totals = InvoiceTotals(subtotal: subtotal, balance: balance)
            #expect(totals.amountDue >= 0)
            #expect(totals.amountDue == 0 || totals.newBalance == 0)
            #expect(totals.newBalance <= max(balance, 0))
            #expect(totals.amountDue + totals.newBalance == subtotal + balance, "nothing is lost or made")
        }
    }
}

@Suite struct PricingTests {
    private let start = Timestamp(epochSeconds: 1_769_904_000)
    private let end = Timestamp(epochSeconds: 1_772_582_400)

    @Test func linesAreDescribedOnceForEveryInvoice() {
        let line = Pricing.periodLine(
            planName: "Pro", interval: BillingInterval(unit: .month, count: 3), unitAmount: 2500, quantity: 3,
            start: start, end: end)
        #expect(line.description == "Pro (every 3 months)" && line.kind == .subscription && line.amount == 7500)
        #expect(line.quantity == 3 && line.unitAmount == 2500)
        let trial = Pricing.trialLine(planName: "Pro", quantity: 4, start: start, end: end)
        #expect(trial.amount == 0 && trial.quantity == 4 && trial.unitAmount == 0)
        let credit = Pricing.unusedTimeLine(
            planName: "Pro", unitAmount: 350, quantity: 2, credit: 700, from: start, to: end)
        #expect(credit.amount == -700 && credit.quantity == 2)
    }

    /// Seats: the share of `unit × quantity`, computed from the product and rounded once —
    /// not `quantity × share(unit)`, which rounds per seat (3 × 333 = 999 where 1000 is due).
    @Test func seatsAreProratedFromTheProductRoundedOnce() {
        let half = Timestamp(epochSeconds: start.epochSeconds + (end.epochSeconds - start.epochSeconds) / 3)
        let line = Pricing.remainingTimeLine(
            planName: "Seat", unitAmount: 500, quantity: 3, from: half, to: end, periodStart: start)
        // 1500 × 2/3 = 1000 exactly; per seat it would be 3 × round(333.33) = 999.
        #expect(line.amount == 1000)
        let odd = Pricing.remainingTimeLine(
            planName: "Seat", unitAmount: 1, quantity: 1, from: half, to: end, periodStart: start)
        #expect(odd.amount == 1)  // 0.667 rounds half away from zero to 1
    }

    @Test(arguments: [
        (Int64(1_000_000), 1_000_000, Int64?(1_000_000_000_000)),
        (Int64(1_000_001), 1_000_000, nil),
        (Int64(-1_000_000), 1_000_000, Int64?(-1_000_000_000_000)),
        (Int64(1_000_000_000_000), 1, Int64?(1_000_000_000_000)),
        (Int64(1_000_000_000_000), 2, nil),
        (Int64.max, 1_000_000, nil),
        (Int64.min, 2, nil),
    ])
    func extendedAmountsStopAtTheLineLimitWithoutTrapping(unit: Int64, quantity: Int, expected: Int64?) {
        #expect(Pricing.extended(unit, quantity: quantity) == expected)
    }

    @Test func totalsRefuseLimitsWithTheFieldNamed() throws {
        var big = Pricing.periodLine(
            planName: "P", interval: BillingInterval(unit: .month, count: 1), unitAmount: 1, quantity: 1,
            start: start, end: end)
        big.amount = Pricing.lineLimit + 1
        #expect(throws: BillingError.invalid(field: "amount_cents", message: "an invoice line would pass ±10^12")) {
            try Pricing.totals(of: [big], balance: 0)
        }
        var full = big
        full.amount = Pricing.lineLimit
        let many = [PricedLine](repeating: full, count: 101)
        #expect(throws: BillingError.self) { try Pricing.totals(of: many, balance: 0) }
        #expect(try Pricing.totals(of: [full, full], balance: -500).amountDue == 2 * Pricing.lineLimit - 500)
    }
}

@Suite struct CurrencyTests {
    @Test func knowsCodesAndMinorUnits() {
        #expect(Currency(code: "EUR")?.minorUnitDigits == 2)
        #expect(Currency(code: "JPY")?.minorUnitDigits == 0)
        #expect(Currency(code: "KWD")?.minorUnitDigits == 3)
    }

    @Test(arguments: ["XYZ", "eur", "EURO", "", "€", "US"])
    func refusesUnknownCodes(code: String) {
        #expect(Currency(code: code) == nil)
    }
}

@Suite struct BillingIntervalTests {
    @Test func limitsIntervalsToOneYear() {
        #expect(BillingInterval(unit: .day, count: 365).isValid)
        #expect(!BillingInterval(unit: .day, count: 366).isValid)
        #expect(BillingInterval(unit: .week, count: 52).isValid)
        #expect(!BillingInterval(unit: .week, count: 53).isValid)
        #expect(BillingInterval(unit: .month, count: 12).isValid)
        #expect(!BillingInterval(unit: .month, count: 13).isValid)
        #expect(!BillingInterval(unit: .year, count: 2).isValid)
        #expect(!BillingInterval(unit: .month, count: 0).isValid)
    }
}

@Suite struct SubscriptionStartTests {
    @Test func withoutTrialTheFirstPeriodIsCharged() {
        let start = SubscriptionService.Start(
            start: t("2025-01-31T10:00:00Z"), trialDays: 0, interval: BillingInterval(unit: .month, count: 1))
        #expect(start.status == .active)
        #expect(start.anchor == t("2025-01-31T10:00:00Z"))
        #expect(start.periodEnd == t("2025-02-28T10:00:00Z"))
        #expect(start.lineKind == .subscription)
        #expect(start.trialEnd == nil)
    }

    @Test func aTrialIsFreeAndMovesTheAnchorToItsEnd() {
        let start = SubscriptionService.Start(
            start: t("2026-01-01T00:00:00Z"), trialDays: 14, interval: BillingInterval(unit: .month, count: 1))
        #expect(start.status == .trialing)
        #expect(start.trialEnd == t("2026-01-15T00:00:00Z"))
        #expect(start.anchor == t("2026-01-15T00:00:00Z"))
        #expect(start.periodStart == t("2026-01-01T00:00:00Z"))
        #expect(start.periodEnd == t("2026-01-15T00:00:00Z"))
        #expect(start.lineKind == .trial)
    }
}

@Suite struct ConstraintFieldTests {
    @Test(
        arguments: [
            ("customers_balance_cents_check", "balance_cents"),
            ("invoice_lines_amount_cents_check", "amount_cents"),
            ("invoices_subtotal_cents_check", "subtotal_cents"),
            ("plans_check", nil),
            ("customers_email_key", nil),
            ("other_thing_check", nil),
        ] as [(String, String?)])
    func namesTheFieldOfAColumnCheck(constraint: String, field: String?) {
        #expect(ConstraintField.field(of: constraint) == field)
    }
}
