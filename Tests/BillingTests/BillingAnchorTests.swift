import Billing
import Common
import Testing

private func t(_ text: String) -> Timestamp { Timestamp(parsing: text)! }

/// Billing cycle anchors and calendar plans (`time.md`): where the calendar anchors a
/// subscription, and the first period before the anchor prorated over the whole period
/// that ends there.
@Suite struct BillingAnchorTests {
    private func calendar(_ instant: String, _ unit: BillingInterval.Unit, _ zone: String = "UTC") -> String {
        BillingCycle.calendarAnchor(after: t(instant), unit: unit, zone: Zone(named: zone)!).description
    }

    @Test func calendarAnchorsAreTheNextCalendarBoundary() {
        #expect(calendar("2025-01-15T10:00:00Z", .month) == "2025-02-01T00:00:00Z")
        #expect(calendar("2025-12-15T10:00:00Z", .month) == "2026-01-01T00:00:00Z")
        #expect(calendar("2025-02-01T00:00:00Z", .month) == "2025-02-01T00:00:00Z")  // on it already
        #expect(calendar("2025-02-01T00:00:01Z", .month) == "2025-03-01T00:00:00Z")
        #expect(calendar("2025-01-15T10:00:00Z", .week) == "2025-01-20T00:00:00Z")  // Wednesday → Monday
        #expect(calendar("2025-01-19T23:59:59Z", .week) == "2025-01-20T00:00:00Z")  // Sunday
        #expect(calendar("2025-01-20T00:00:00Z", .week) == "2025-01-20T00:00:00Z")  // Monday 00:00
        #expect(calendar("2025-06-01T00:00:00Z", .year) == "2026-01-01T00:00:00Z")
        #expect(calendar("2025-06-01T08:00:00Z", .day) == "2025-06-02T00:00:00Z")
        // In the customer's zone: April 1 00:00 in Paris is summer time (UTC+2).
        #expect(calendar("2025-03-15T12:00:00Z", .month, "Europe/Paris") == "2025-03-31T22:00:00Z")
        // Still January 31 in Los Angeles when it is already February in UTC.
        #expect(calendar("2025-02-01T03:00:00Z", .month, "America/Los_Angeles") == "2025-02-01T08:00:00Z")
        #expect(calendar("2025-01-15T10:00:00Z", .week, "Asia/Tokyo") == "2025-01-19T15:00:00Z")
    }

    /// The stub `[start, anchor)` costs the plan's price × its length / the length of the
    /// whole period that ends at the anchor: 3000 × 17 days / 31 days = 1645.16… → 1645.
    @Test func theStubIsProratedOverThePeriodEndingAtTheAnchor() {
        let schedule = BillingSchedule(
            anchor: t("2025-02-01T00:00:00Z"), interval: BillingInterval(unit: .month, count: 1))
        let stub = schedule.stub(from: t("2025-01-15T00:00:00Z"))!
        #expect(stub.index == -1 && stub.end == t("2025-02-01T00:00:00Z"))
        let line = schedule.line(for: stub, planName: "Pro", unitAmount: 1000, quantity: 3)
        #expect(line.kind == .proration && line.amount == 1645)
        #expect(line.start == t("2025-01-15T00:00:00Z") && line.end == t("2025-02-01T00:00:00Z"))
        #expect(schedule.stub(from: t("2025-02-01T00:00:00Z")) == nil)
        #expect(schedule.line(for: schedule.period(0), planName: "Pro", unitAmount: 1000, quantity: 3).amount == 3000)
    }

    @Test func aCalendarPlanStartsWithTheStub() {
        let monthly = BillingInterval(unit: .month, count: 1)
        let start = SubscriptionService.Start(
            start: t("2025-01-15T10:00:00Z"), trialDays: 0, interval: monthly, cycle: .calendar)
        #expect(start.anchor == t("2025-02-01T00:00:00Z") && start.periodEnd == start.anchor)
        #expect(start.lineKind == .proration && start.status == .active)
        let onTheFirst = SubscriptionService.Start(
            start: t("2025-02-01T00:00:00Z"), trialDays: 0, interval: monthly, cycle: .calendar)
        #expect(onTheFirst.lineKind == .subscription && onTheFirst.periodEnd == t("2025-03-01T00:00:00Z"))
        let explicit = SubscriptionService.Start(
            start: t("2025-01-15T10:00:00Z"), trialDays: 0, interval: monthly, anchor: t("2025-01-20T00:00:00Z"))
        #expect(explicit.periodEnd == t("2025-01-20T00:00:00Z") && explicit.lineKind == .proration)
    }

    /// A calendar plan with a trial: the trial ends, the stub to the calendar anchor is
    /// invoiced, then whole calendar months.
    @Test func afterATrialTheStubComesFirst() {
        let monthly = BillingInterval(unit: .month, count: 1)
        let start = SubscriptionService.Start(
            start: t("2025-01-01T10:00:00Z"), trialDays: 14, interval: monthly, cycle: .calendar)
        #expect(start.trialEnd == t("2025-01-15T10:00:00Z") && start.anchor == t("2025-02-01T00:00:00Z"))
        let renewal = Renewal(
            status: .trialing, anchor: start.anchor, interval: monthly, trialEnd: start.trialEnd,
            currentPeriodStart: start.periodStart, currentPeriodEnd: start.periodEnd, cancelAtPeriodEnd: false,
            asOf: t("2025-02-10T00:00:00Z"))
        #expect(renewal.invoices.map(\.index) == [-1, 0])
        #expect(renewal.invoices[0].start == t("2025-01-15T10:00:00Z"))
        #expect(renewal.invoices[1].start == t("2025-02-01T00:00:00Z"))
        #expect(renewal.currentPeriodEnd == t("2025-03-01T00:00:00Z"))
    }
}
