import Billing
import Common
import Testing

private func t(_ text: String) -> Timestamp { Timestamp(parsing: text)! }

@Suite struct BillingScheduleTests {
    private func boundaries(_ anchor: String, _ unit: BillingInterval.Unit, count: Int = 1, periods: Int) -> [String] {
        let schedule = BillingSchedule(anchor: t(anchor), interval: BillingInterval(unit: unit, count: count))
        return (0...periods).map { schedule.boundary($0).description }
    }

    @Test func monthlyFromJan31InACommonYear() {
        #expect(
            boundaries("2025-01-31T10:00:00Z", .month, periods: 4) == [
                "2025-01-31T10:00:00Z", "2025-02-28T10:00:00Z", "2025-03-31T10:00:00Z", "2025-04-30T10:00:00Z",
                "2025-05-31T10:00:00Z",
            ])
    }

    @Test func monthlyFromJan31InALeapYear() {
        #expect(
            boundaries("2024-01-31T00:00:00Z", .month, periods: 3) == [
                "2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z",
            ])
    }

    @Test func monthlyFromJan30() {
        #expect(
            boundaries("2025-01-30T00:00:00Z", .month, periods: 2) == [
                "2025-01-30T00:00:00Z", "2025-02-28T00:00:00Z", "2025-03-30T00:00:00Z",
            ])
        #expect(boundaries("2024-01-30T00:00:00Z", .month, periods: 1).last == "2024-02-29T00:00:00Z")
    }

    @Test func yearlyFromFeb29() {
        #expect(
            boundaries("2024-02-29T08:00:00Z", .year, periods: 4) == [
                "2024-02-29T08:00:00Z", "2025-02-28T08:00:00Z", "2026-02-28T08:00:00Z", "2027-02-28T08:00:00Z",
                "2028-02-29T08:00:00Z",
            ])
    }

    @Test func everyTwoWeeks() {
        #expect(
            boundaries("2026-01-01T00:00:00Z", .week, count: 2, periods: 2) == [
                "2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z", "2026-01-29T00:00:00Z",
            ])
    }

    @Test func everyThirtyDays() {
        #expect(
            boundaries("2026-01-31T00:00:00Z", .day, count: 30, periods: 2) == [
                "2026-01-31T00:00:00Z", "2026-03-02T00:00:00Z", "2026-04-01T00:00:00Z",
            ])
    }

    @Test func quarterlyAcrossAYearEnd() {
        #expect(
            boundaries("2025-11-30T00:00:00Z", .month, count: 3, periods: 2) == [
                "2025-11-30T00:00:00Z", "2026-02-28T00:00:00Z", "2026-05-30T00:00:00Z",
            ])
    }

    @Test func periodContainingAnInstant() {
        let schedule = BillingSchedule(
            anchor: t("2025-01-31T10:00:00Z"), interval: BillingInterval(unit: .month, count: 1))
        let period = schedule.period(containing: t("2025-03-15T00:00:00Z"))
        #expect(period.index == 1)
        #expect(period.start == t("2025-02-28T10:00:00Z"))
        #expect(period.end == t("2025-03-31T10:00:00Z"))
        #expect(schedule.period(containing: t("2025-02-28T10:00:00Z")).index == 1)
        #expect(schedule.period(containing: t("2025-02-28T09:59:59Z")).index == 0)
        #expect(schedule.period(containing: t("2020-01-01T00:00:00Z")).index == 0)
    }

    /// Generated anchors and intervals: periods are contiguous, never overlap, and return to
    /// the anchor's day whenever the month has it.
    @Test func propertiesHoldForGeneratedSchedules() {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let anchor = Timestamp(epochSeconds: Int64(generator.next() % 4_000_000_000))
            let unit = BillingInterval.Unit.allCases[Int(generator.next() % 4)]
            let count = 1 + Int(generator.next() % UInt64(BillingInterval.maximumCount(for: unit)))
            let schedule = BillingSchedule(anchor: anchor, interval: BillingInterval(unit: unit, count: count))
            var previousEnd = anchor
            for index in 0..<15 {
                let period = schedule.period(index)
                #expect(period.start == previousEnd)
                #expect(period.end > period.start)
                previousEnd = period.end
                let startDay = period.start.civil
                let anchorDay = anchor.civil
                if unit == .month || unit == .year {
                    let monthLength = CivilDateTime.daysInMonth(year: startDay.year, month: startDay.month)
                    #expect(startDay.day == min(anchorDay.day, monthLength))
                }
                let probe = period.start.adding(seconds: period.lengthSeconds / 2)
                #expect(schedule.period(containing: probe) == period)
            }
        }
    }
}

/// A small deterministic generator so that property tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
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
