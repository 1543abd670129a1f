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
        #expect(totals.amountDue == totals.subtotal + totals.balanceApplied)
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
            start: t("2025-01-31T10:00:00Z"), trialDays: 0, interval: BillingInterval(unit: .month, count: 1),
            amount: 2500)
        #expect(start.status == .active)
        #expect(start.anchor == t("2025-01-31T10:00:00Z"))
        #expect(start.periodEnd == t("2025-02-28T10:00:00Z"))
        #expect(start.lineKind == .subscription)
        #expect(start.lineAmount == 2500)
        #expect(start.trialEnd == nil)
    }

    @Test func aTrialIsFreeAndMovesTheAnchorToItsEnd() {
        let start = SubscriptionService.Start(
            start: t("2026-01-01T00:00:00Z"), trialDays: 14, interval: BillingInterval(unit: .month, count: 1),
            amount: 2500)
        #expect(start.status == .trialing)
        #expect(start.trialEnd == t("2026-01-15T00:00:00Z"))
        #expect(start.anchor == t("2026-01-15T00:00:00Z"))
        #expect(start.periodStart == t("2026-01-01T00:00:00Z"))
        #expect(start.periodEnd == t("2026-01-15T00:00:00Z"))
        #expect(start.lineKind == .trial)
        #expect(start.lineAmount == 0)
    }
}

@Suite struct ConstraintFieldTests {
    @Test(arguments: [
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
