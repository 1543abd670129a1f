import Billing
import Common
import Testing

private func t(_ text: String) -> Timestamp { Timestamp(parsing: text)! }
private let day: Int64 = 86_400

@Suite struct ProrationTests {
    @Test(arguments: [
        // amount, remaining, length → share (rounded half away from zero)
        (Int64(1000), Int64(15), Int64(30), Int64(500)),
        (2000, 15, 30, 1000),
        (995, 30, 31, 963),
        (1, 1, 2, 1),
        (-1, 1, 2, -1),
        (3, 1, 2, 2),
        (1000, 0, 30, 0),
        (1000, 30, 30, 1000),
        (1000, 45, 30, 1000),
        (1000, -5, 30, 0),
        (1_000_000_000_000, 31_622_399, 31_622_400, 999_999_968_377),
    ])
    func sharesAreExact(amount: Int64, remaining: Int64, length: Int64, share: Int64) {
        #expect(Proration.share(of: amount, remaining: remaining, of: length) == share)
    }

    /// A line billed for `[start, end)` (seconds), as stored.
    private func billed(_ amount: Int64, _ start: Int64, _ end: Int64) -> Proration.BilledLine {
        .init(amount: amount, start: Timestamp(epochSeconds: start), end: Timestamp(epochSeconds: end))
    }

    /// The credit (what was billed and is left unused) and the charge for the rest of a
    /// 30-day period on the new price: the two lines of a prorated change at `now`.
    private func change(billed lines: [Proration.BilledLine], to newAmount: Int64, at now: Int64) -> (
        credit: Int64, charge: Int64
    ) {
        (
            -Proration.unused(of: lines, at: Timestamp(epochSeconds: now))!,
            Proration.share(of: newAmount, remaining: 30 * day - now, of: 30 * day)
        )
    }

    @Test func upgradeAtTheExactMiddleOfA30DayPeriod() {
        let change = change(billed: [billed(1000, 0, 30 * day)], to: 2000, at: 15 * day)
        #expect(change.credit == -500)
        #expect(change.charge == 1000)
    }

    @Test func threeUpgradesInOneMonthNet6000() {
        // 3000 billed on day 1; upgrades to 6000 on day 11 and to 9000 on day 21 of 30.
        var lines = [billed(3000, 0, 30 * day)]
        let first = change(billed: lines, to: 6000, at: 10 * day)
        lines += [billed(first.credit, 10 * day, 30 * day), billed(first.charge, 10 * day, 30 * day)]
        let second = change(billed: lines, to: 9000, at: 20 * day)
        #expect((first.credit, first.charge) == (-2000, 4000))
        #expect((second.credit, second.charge) == (-2000, 3000))
        #expect(3000 + first.credit + first.charge + second.credit + second.charge == 6000)
    }

    /// Generated amounts and change times: the credit for a period never exceeds what was
    /// billed for it, and credit + remaining charge of the same amount cancel out.
    @Test func creditNeverExceedsWhatWasBilled() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<10_000 {
            let amount = Int64(generator.next() % 1_000_000_000_001)
            let length = Int64(1 + generator.next() % (366 * 86_400))
            let elapsed = Int64(generator.next() % UInt64(length + 1))
            let credit = -Proration.unused(of: [billed(amount, 0, length)], at: Timestamp(epochSeconds: elapsed))!
            let charge = Proration.share(of: amount, remaining: length - elapsed, of: length)
            #expect(-credit <= amount)
            #expect(credit <= 0)
            #expect(credit + charge == 0)
        }
    }
}

@Suite struct PlanChangeTests {
    private let monthly = BillingInterval(unit: .month, count: 1)

    private func change(
        from old: Int64, to new: Int64, interval: BillingInterval? = nil, prorate: Bool = true, at now: String,
        start: String = "2026-04-01T00:00:00Z", end: String = "2026-05-01T00:00:00Z",
        status: Subscription.Status = .active
    ) -> PlanChange {
        // What was billed: the old plan's whole period, as one subscription line.
        let billed = Proration.BilledLine(amount: old, start: t(start), end: t(end))
        return PlanChange(
            from: .init(planName: "Old", unitAmount: old, quantity: 1, interval: monthly),
            unusedCredit: Proration.unused(of: [billed], at: t(now))!,
            to: .init(planName: "New", unitAmount: new, quantity: 1, interval: interval ?? monthly), prorate: prorate,
            now: t(now), status: status, anchor: t(start), periodStart: t(start), periodEnd: t(end))
    }

    @Test func sameIntervalKeepsThePeriodAndProratesBothWays() {
        let result = change(from: 1000, to: 2000, at: "2026-04-16T00:00:00Z")
        #expect(result.lineKinds == [.proration, .proration])
        #expect(result.lineAmounts == [-500, 1000])
        #expect(result.periodStart == t("2026-04-01T00:00:00Z"))
        #expect(result.periodEnd == t("2026-05-01T00:00:00Z"))
        #expect(result.anchor == t("2026-04-01T00:00:00Z"))
    }

    @Test func withoutProrationNothingIsInvoiced() {
        #expect(change(from: 1000, to: 2000, prorate: false, at: "2026-04-16T00:00:00Z").lineAmounts == [])
    }

    @Test func aDowngradeCreditsMoreThanItCharges() {
        #expect(change(from: 2000, to: 1000, at: "2026-04-16T00:00:00Z").lineAmounts == [-1000, 500])
    }

    @Test func monthlyToYearlyRestartsTheCycleNow() {
        let result = change(
            from: 3000, to: 30000, interval: BillingInterval(unit: .year, count: 1), at: "2026-04-11T00:00:00Z")
        #expect(result.anchor == t("2026-04-11T00:00:00Z"))
        #expect(result.periodStart == t("2026-04-11T00:00:00Z"))
        #expect(result.periodEnd == t("2027-04-11T00:00:00Z"))
        #expect(result.lineKinds == [.subscription, .proration])
        #expect(result.lineAmounts == [30000, -2000])
    }

    /// Lago #1776: 10000 billed for April; the plan moved to a 12000 price on Apr 10
    /// without proration (nothing billed for it); canceled with proration on Apr 16: the
    /// credit is half of what was billed, 5000, not half of the new price.
    @Test func creditComesFromWhatWasBilledNotFromThePrice() {
        let april = Proration.BilledLine(
            amount: 10000, start: t("2026-04-01T00:00:00Z"), end: t("2026-05-01T00:00:00Z"))
        #expect(Proration.unused(of: [april], at: t("2026-04-16T00:00:00Z")) == 5000)
    }

    /// Lines of earlier changes within the period count over their own span: 1000 billed
    /// for April, then a prorated change on Apr 11 (credit 667 for Apr 11-May 1, charge
    /// 1333 at 2000) leaves 1000 worth of April 16-May 1 at the 2000 price.
    @Test func earlierProrationLinesCountOverTheirOwnSpan() {
        let lines = [
            Proration.BilledLine(amount: 1000, start: t("2026-04-01T00:00:00Z"), end: t("2026-05-01T00:00:00Z")),
            Proration.BilledLine(amount: -667, start: t("2026-04-11T00:00:00Z"), end: t("2026-05-01T00:00:00Z")),
            Proration.BilledLine(amount: 1333, start: t("2026-04-11T00:00:00Z"), end: t("2026-05-01T00:00:00Z")),
        ]
        // 500 - 500 (−667 × 15/20 = −500.25) + 1000 (1333 × 15/20 = 999.75)
        #expect(Proration.unused(of: lines, at: t("2026-04-16T00:00:00Z")) == 1000)
    }

    /// Upgrading without proration then downgrading with it, again and again, never
    /// credits more than was billed: the loop that once minted −10^15 of credit.
    @Test func alternatingChangesNeverMintCredit() {
        let start = t("2026-04-01T00:00:00Z")
        let end = t("2026-05-01T00:00:00Z")
        var lines = [Proration.BilledLine(amount: 1000, start: start, end: end)]
        var net: Int64 = 1000
        for step in 1...1000 {
            let now = start.adding(seconds: Int64(step) * 2000)
            // The upgrade (prorate: false) bills nothing; the downgrade credits what was billed.
            let credit = Proration.unused(of: lines, at: now)!
            let charge = Proration.share(
                of: 1000, remaining: end.epochSeconds - now.epochSeconds, of: end.epochSeconds - start.epochSeconds)
            lines += [.init(amount: -credit, start: now, end: end), .init(amount: charge, start: now, end: end)]
            net += charge - credit
            #expect(credit >= 0 && credit <= 1000)
            #expect(net >= 0 && net <= 1000 + Int64(step) * 2)
        }
    }

    @Test func aTrialIsNotProrated() {
        #expect(change(from: 1000, to: 2000, at: "2026-04-16T00:00:00Z", status: .trialing).lineAmounts == [])
    }
}

@Suite struct RenewalTests {
    private let monthly = BillingInterval(unit: .month, count: 1)

    @Test func catchesUpEveryMissedPeriodInOrderFromTheAnchor() {
        let renewal = Renewal(
            status: .active, anchor: t("2025-01-31T10:00:00Z"), interval: monthly, trialEnd: nil,
            currentPeriodStart: t("2025-01-31T10:00:00Z"), currentPeriodEnd: t("2025-02-28T10:00:00Z"),
            cancelAtPeriodEnd: false, asOf: t("2025-05-01T00:00:00Z"))
        #expect(
            renewal.invoices.map(\.start.description) == [
                "2025-02-28T10:00:00Z", "2025-03-31T10:00:00Z", "2025-04-30T10:00:00Z",
            ])
        #expect(renewal.currentPeriodStart == t("2025-04-30T10:00:00Z"))
        #expect(renewal.currentPeriodEnd == t("2025-05-31T10:00:00Z"))
        #expect(renewal.status == .active)
    }

    @Test func nothingIsDueBeforeThePeriodEnds() {
        let renewal = Renewal(
            status: .active, anchor: t("2025-01-31T10:00:00Z"), interval: monthly, trialEnd: nil,
            currentPeriodStart: t("2025-01-31T10:00:00Z"), currentPeriodEnd: t("2025-02-28T10:00:00Z"),
            cancelAtPeriodEnd: false, asOf: t("2025-02-28T09:59:59Z"))
        #expect(!renewal.changesSomething)
    }

    @Test func anEndedTrialBecomesActiveAndItsFirstPaidPeriodIsInvoiced() {
        let renewal = Renewal(
            status: .trialing, anchor: t("2026-01-15T00:00:00Z"), interval: monthly,
            trialEnd: t("2026-01-15T00:00:00Z"),
            currentPeriodStart: t("2026-01-01T00:00:00Z"), currentPeriodEnd: t("2026-01-15T00:00:00Z"),
            cancelAtPeriodEnd: false, asOf: t("2026-01-20T00:00:00Z"))
        #expect(renewal.trialEnded)
        #expect(renewal.status == .active)
        #expect(
            renewal.invoices.map { [$0.start, $0.end] } == [[t("2026-01-15T00:00:00Z"), t("2026-02-15T00:00:00Z")]])
    }

    @Test func cancelAtPeriodEndEndsWithoutANewInvoice() {
        let renewal = Renewal(
            status: .active, anchor: t("2026-01-01T00:00:00Z"), interval: monthly, trialEnd: nil,
            currentPeriodStart: t("2026-01-01T00:00:00Z"), currentPeriodEnd: t("2026-02-01T00:00:00Z"),
            cancelAtPeriodEnd: true, asOf: t("2026-06-01T00:00:00Z"))
        #expect(renewal.invoices.isEmpty)
        #expect(renewal.status == .canceled)
        #expect(renewal.endedAt == t("2026-02-01T00:00:00Z"))
    }

    /// Catch-up stops at the budget of invoices a transaction may write and says that
    /// more is due; the next call, from the stored period, goes on where it stopped.
    @Test func catchUpIsBoundedAndResumesWhereItStopped() {
        let daily = BillingInterval(unit: .day, count: 1)
        let anchor = t("2026-01-01T00:00:00Z")
        let asOf = t("2026-01-11T12:00:00Z")
        let first = Renewal(
            status: .active, anchor: anchor, interval: daily, trialEnd: nil, currentPeriodStart: anchor,
            currentPeriodEnd: t("2026-01-02T00:00:00Z"), cancelAtPeriodEnd: false, asOf: asOf, maximumPeriods: 4)
        #expect(first.invoices.count == 4)
        #expect(!first.isComplete)
        let rest = Renewal(
            status: first.status, anchor: anchor, interval: daily, trialEnd: nil,
            currentPeriodStart: first.currentPeriodStart, currentPeriodEnd: first.currentPeriodEnd,
            cancelAtPeriodEnd: false, asOf: asOf)
        #expect(rest.isComplete)
        #expect(
            (first.invoices + rest.invoices).map(\.start.description)
                == (1...10).map {
                    anchor.adding(seconds: Int64($0) * 86_400).description
                })
    }

    @Test func aCanceledSubscriptionIsLeftAlone() {
        let renewal = Renewal(
            status: .canceled, anchor: t("2026-01-01T00:00:00Z"), interval: monthly, trialEnd: nil,
            currentPeriodStart: t("2026-01-01T00:00:00Z"), currentPeriodEnd: t("2026-02-01T00:00:00Z"),
            cancelAtPeriodEnd: false, asOf: t("2026-06-01T00:00:00Z"))
        #expect(!renewal.changesSomething)
    }
}

@Suite struct DunningTests {
    @Test(arguments: [
        (Subscription.Status.active, "2026-01-08T00:00:00Z", "2026-01-07T00:00:00Z", Dunning.none),
        (.active, "2026-01-08T00:00:00Z", "2026-01-08T00:00:00Z", .markPastDue),
        (.pastDue, "2026-01-08T00:00:00Z", "2026-01-21T23:59:59Z", .none),
        (.pastDue, "2026-01-08T00:00:00Z", "2026-01-22T00:00:00Z", .cancelForNonpayment),
        (.active, "2026-01-08T00:00:00Z", "2026-03-01T00:00:00Z", .cancelForNonpayment),
        (.trialing, "2026-01-08T00:00:00Z", "2026-03-01T00:00:00Z", .none),
        (.canceled, "2026-01-08T00:00:00Z", "2026-03-01T00:00:00Z", .none),
    ])
    func decides(status: Subscription.Status, due: String, asOf: String, expected: Dunning) {
        #expect(Dunning.decide(status: status, oldestDue: t(due), asOf: t(asOf), graceDays: 14) == expected)
    }
}
