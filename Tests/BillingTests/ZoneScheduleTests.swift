import Billing
import Common
import FoundationEssentials
import FoundationInternationalization
import Testing

private func t(_ text: String) -> Timestamp { Timestamp(parsing: text)! }
private func zone(_ name: String) -> Zone { Zone(named: name)! }

/// Billing calendars in customer time zones (`time.md`): table cases from the contract and
/// the tz database's odd corners, then properties over generated anchors checked against
/// Foundation's own `Calendar` as an independent oracle.
@Suite struct ZoneScheduleTests {
    private func schedule(_ anchor: String, _ unit: BillingInterval.Unit, count: Int = 1, in name: String)
        -> BillingSchedule
    {
        BillingSchedule(anchor: t(anchor), interval: BillingInterval(unit: unit, count: count), zone: zone(name))
    }

    @Test func namesAreIANAZones() {
        #expect(Zone(named: "Europe/Paris")?.name == "Europe/Paris")
        #expect(Zone(named: "UTC") == .utc)
        #expect(Zone(named: "Etc/GMT+5") != nil)
        for bad in ["", "Mars/Base", "europe/paris", "GMT+2", "GMT-03:00", "../etc/passwd", "localtime"] {
            #expect(Zone(named: bad) == nil, "\(bad)")
        }
    }

    /// The contract's example: monthly from 2025-01-31 00:00 Paris ends 2025-02-28 00:00
    /// Paris time, and the next period returns to the 31st.
    @Test func monthlyInParisFromJan31() {
        let paris = schedule("2025-01-30T23:00:00Z", .month, in: "Europe/Paris")
        #expect(paris.boundary(1) == t("2025-02-27T23:00:00Z"))
        // March 31 00:00 is summer time (UTC+2): the period is a calendar month, not 31 days.
        #expect(paris.boundary(2) == t("2025-03-30T22:00:00Z"))
        #expect(paris.period(2).lengthSeconds == 30 * 86_400)
    }

    @Test func daysAcrossDSTAreLocalDays() {
        let paris = schedule("2025-03-29T12:00:00Z", .day, in: "Europe/Paris")
        #expect(paris.period(0).lengthSeconds == 23 * 3600)  // 30 March: clocks go forward
        let autumn = schedule("2025-10-25T12:00:00Z", .day, in: "Europe/Paris")
        #expect(autumn.period(0).lengthSeconds == 25 * 3600)
        let losAngeles = schedule("2025-03-03T08:00:00Z", .week, in: "America/Los_Angeles")
        #expect(losAngeles.period(0).lengthSeconds == 7 * 86_400 - 3600)
        // Lord Howe moves its clocks by half an hour (5 October 2025, 02:00 → 02:30).
        let lordHowe = schedule("2025-10-04T01:00:00Z", .day, in: "Australia/Lord_Howe")
        #expect(lordHowe.period(0).lengthSeconds == 86_400 - 1800)
    }

    /// 02:30 does not exist in Paris on 30 March 2025: that day's boundary is 03:30 (as far
    /// after the change as 02:30 was into it), and the next one is 02:30 again.
    @Test func skippedWallTimeMovesForward() {
        let paris = schedule("2025-03-29T01:30:00Z", .day, in: "Europe/Paris")  // 02:30 local
        #expect(paris.boundary(1) == t("2025-03-30T01:30:00Z"))  // 03:30 CEST
        #expect(paris.boundary(2) == t("2025-03-31T00:30:00Z"))  // 02:30 CEST
    }

    /// Apia skipped 30 December 2011 (UTC−10 → UTC+14): a daily schedule has no period for
    /// it; the one before runs into the 31st and nothing is billed twice or for no time.
    @Test func apiaSkippedADay() {
        let apia = schedule("2011-12-28T20:00:00Z", .day, in: "Pacific/Apia")  // 28 Dec 10:00 local
        var period = apia.period(0)
        var starts: [Timestamp] = []
        for _ in 0..<4 {
            #expect(period.end > period.start)
            starts.append(period.start)
            period = apia.period(containing: period.end)
        }
        let localDays = starts.map { zone("Pacific/Apia").local($0).day }
        #expect(localDays == [28, 29, 31, 1])
    }

    @Test func utcIsUnchanged() {
        let utc = BillingSchedule(anchor: t("2025-01-31T10:00:00Z"), interval: BillingInterval(unit: .month, count: 1))
        #expect(utc.zone == .utc)
        #expect(utc.boundary(1) == t("2025-02-28T10:00:00Z"))
    }

    /// Generated anchors across DST changes in several zones: periods tile time with no gap
    /// or overlap, and every boundary is the anchor's wall-clock time on the date one more
    /// interval on (a calendar interval, not a count of seconds), or just after it when the
    /// clocks skipped that time. Foundation's `Calendar` is an independent oracle too, except
    /// in Apia, where ICU counts the day that never was (2011-12-30) as a day.
    @Test(arguments: ["Europe/Paris", "America/Los_Angeles", "Australia/Lord_Howe", "Pacific/Apia"])
    func periodsTileTimeAndAreCalendarIntervals(zoneName: String) {
        let zone = zone(zoneName)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zoneName)!
        var generator = SplitMix64(seed: UInt64(zoneName.utf8.count))
        for _ in 0..<300 {
            // 2010 … 2030, at any second: anchors near midnight and DST nights included.
            let anchor = Timestamp(epochSeconds: 1_262_304_000 + Int64(generator.next() % 631_152_000))
            let unit = BillingInterval.Unit.allCases[Int(generator.next() % 4)]
            let count = 1 + Int(generator.next() % UInt64(min(3, BillingInterval.maximumCount(for: unit))))
            let schedule = BillingSchedule(
                anchor: anchor, interval: BillingInterval(unit: unit, count: count), zone: zone)
            let wall = zone.local(anchor)
            var period = schedule.period(0)
            for index in 1..<30 {
                let boundary = schedule.boundary(index)
                let expected = Self.wall(wall, plus: index * count, unit)
                let local = zone.local(boundary)
                // Skipped: no offset the zone uses within a day of it maps an instant onto it.
                let skipped = (-26...26).allSatisfy { hour in
                    let offset = zone.offset(at: boundary.adding(seconds: Int64(hour) * 3600))
                    return zone.local(Timestamp(epochSeconds: expected.epochSeconds - offset)) != expected
                }
                #expect(
                    local == expected || (skipped && local.epochSeconds > expected.epochSeconds),
                    "\(zoneName) \(anchor) \(unit) × \(count), boundary \(index)")
                if zoneName != "Pacific/Apia" {
                    let component: Calendar.Component =
                        switch unit {
                        case .day: .day
                        case .week: .weekOfYear
                        case .month: .month
                        case .year: .year
                        }
                    let oracle = calendar.date(
                        byAdding: component, value: index * count,
                        to: Date(timeIntervalSince1970: Double(anchor.epochSeconds)))!
                    #expect(boundary.epochSeconds == Int64(oracle.timeIntervalSince1970))
                }
                // Walking period by period covers every instant once.
                let next = schedule.period(containing: period.end)
                #expect(next.start == period.end)
                #expect(next.end > next.start)
                let probe = next.start.adding(seconds: next.lengthSeconds / 2)
                #expect(schedule.period(containing: probe) == next)
                period = next
            }
        }
    }

    /// `wall` moved on by `count` units on the calendar: the same time of day, the day clamped
    /// to the month's last.
    private static func wall(_ wall: CivilDateTime, plus count: Int, _ unit: BillingInterval.Unit) -> CivilDateTime {
        switch unit {
        case .day, .week:
            let days = count * (unit == .week ? 7 : 1)
            return CivilDateTime(epochSeconds: wall.epochSeconds + Int64(days) * 86_400)
        case .month, .year:
            var result = wall
            let months = wall.year * 12 + wall.month - 1 + count * (unit == .year ? 12 : 1)
            result.year = months / 12
            result.month = months % 12 + 1
            result.day = min(wall.day, CivilDateTime.daysInMonth(year: result.year, month: result.month))
            return result
        }
    }

    /// A run at any hour invoices each period exactly once: renewals at random times,
    /// hours to weeks apart, bill exactly the periods a single walk of the calendar meets.
    @Test(arguments: ["Europe/Paris", "America/Los_Angeles", "Australia/Lord_Howe", "Pacific/Apia"])
    func runsAtAnyHourInvoiceEachPeriodOnce(zoneName: String) {
        let zone = zone(zoneName)
        var generator = SplitMix64(seed: 7 + UInt64(zoneName.utf8.count))
        for _ in 0..<100 {
            let anchor = Timestamp(epochSeconds: 1_293_840_000 + Int64(generator.next() % 315_576_000))
            let interval = BillingInterval(unit: generator.next() % 2 == 0 ? .day : .month, count: 1)
            let schedule = BillingSchedule(anchor: anchor, interval: interval, zone: zone)
            let first = schedule.period(0)
            var start = first.start
            var end = first.end
            var invoiced: [BillingSchedule.Period] = []
            var asOf = anchor
            while invoiced.count < 40 {
                asOf = asOf.adding(seconds: Int64(1 + generator.next() % (interval.unit == .day ? 90_000 : 900_000)))
                let renewal = Renewal(
                    status: .active, anchor: anchor, interval: interval, zone: zone, trialEnd: nil,
                    currentPeriodStart: start, currentPeriodEnd: end, cancelAtPeriodEnd: false, asOf: asOf)
                invoiced += renewal.invoices
                start = renewal.currentPeriodStart
                end = renewal.currentPeriodEnd
            }
            var expectedStart = first.end
            for period in invoiced {
                #expect(period.start == expectedStart)
                #expect(period.end > period.start)
                expectedStart = period.end
            }
        }
    }
}
