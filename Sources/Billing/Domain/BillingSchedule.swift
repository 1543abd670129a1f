import Common

/// A subscription's calendar of billing periods. Every boundary is computed from the
/// anchor, never from the previous period, so that a month without the anchor's day
/// (Feb 28 after Jan 31) does not shift the periods after it (Mar 31 again).
///
/// The calendar is the one of the customer's `zone` (`time.md`): boundaries are computed on
/// its wall clock and turned into instants, so a monthly period from 2025-01-31 00:00 in
/// Paris ends 2025-02-28 00:00 Paris time, and a day across a DST change is 23 or 25 hours.
public struct BillingSchedule: Equatable, Sendable {
    public var anchor: Timestamp
    public var interval: BillingInterval
    public var zone: Zone

    public init(anchor: Timestamp, interval: BillingInterval, zone: Zone = .utc) {
        self.anchor = anchor
        self.interval = interval
        self.zone = zone
    }

    /// The start of period `index` (period 0 starts at the anchor). Months and years keep
    /// the anchor's day when the target month has it and clamp to its last day otherwise;
    /// the wall-clock time of day is always the anchor's (or, on a night the clocks skip
    /// it, as long after the skip as it was into it).
    public func boundary(_ index: Int) -> Timestamp {
        switch interval.unit {
        case .day: return zone.adding(days: index * interval.count, to: anchor)
        case .week: return zone.adding(days: index * interval.count * 7, to: anchor)
        case .month: return addingMonths(index * interval.count)
        case .year: return addingMonths(index * interval.count * 12)
        }
    }

    private func addingMonths(_ months: Int) -> Timestamp {
        var civil = zone.local(anchor)
        let monthIndex = civil.year * 12 + (civil.month - 1) + months
        civil.year = monthIndex >= 0 ? monthIndex / 12 : (monthIndex - 11) / 12
        civil.month = monthIndex - civil.year * 12 + 1
        civil.day = min(civil.day, CivilDateTime.daysInMonth(year: civil.year, month: civil.month))
        return zone.instant(civil)
    }

    /// A half-open billing period `[start, end)` and its index in the schedule.
    public struct Period: Equatable, Sendable {
        public var index: Int
        public var start: Timestamp
        public var end: Timestamp

        public var lengthSeconds: Int64 { end.epochSeconds - start.epochSeconds }
    }

    public func period(_ index: Int) -> Period {
        Period(index: index, start: boundary(index), end: boundary(index + 1))
    }

    /// The part `[start, anchor)` of the period that ends at the anchor, billed when a
    /// subscription starts (or its trial ends) before its anchor (`time.md`): index -1, nil
    /// when there is none.
    public func stub(from start: Timestamp) -> Period? {
        start < anchor ? Period(index: -1, start: start, end: anchor) : nil
    }

    /// The line a period of this schedule is billed with: the plan's price for a whole
    /// period; for a stub, that price prorated over the whole period that ends at the
    /// anchor (`API.md`'s proration, one rounding).
    public func line(for period: Period, planName: String, unitAmount: Int64, quantity: Int) -> PricedLine {
        guard period.index >= 0 else {
            return Pricing.remainingTimeLine(
                planName: planName, unitAmount: unitAmount, quantity: quantity, from: period.start, to: period.end,
                periodStart: boundary(-1))
        }
        return Pricing.periodLine(
            planName: planName, interval: interval, unitAmount: unitAmount, quantity: quantity, start: period.start,
            end: period.end)
    }

    /// The period that contains `instant` (period 0 for instants before the anchor). The
    /// estimate from lengths is off by at most a period in a zone; the steps correct it.
    public func period(containing instant: Timestamp) -> Period {
        guard instant > anchor else { return period(0) }
        var index: Int
        switch interval.unit {
        case .day, .week:
            let length = Int64(interval.count) * (interval.unit == .day ? 86_400 : 7 * 86_400)
            index = Int((instant.epochSeconds - anchor.epochSeconds) / length)
        case .month, .year:
            let from = zone.local(anchor)
            let to = zone.local(instant)
            let months = (to.year - from.year) * 12 + (to.month - from.month)
            let step = interval.count * (interval.unit == .year ? 12 : 1)
            index = max(0, months / step)
        }
        while index > 0 && boundary(index) > instant { index -= 1 }
        while boundary(index + 1) <= instant { index += 1 }
        return period(index)
    }
}
