import Common

/// How a plan anchors its subscriptions' periods (`time.md`): on the day each one starts
/// (`anniversary`), or on the calendar (`calendar`): the start of the next month, week
/// (Monday) or year (January 1), or the next midnight for daily plans, in the customer's
/// time zone, the part before it billed as a prorated first period.
public enum BillingCycle: String, CaseIterable, Sendable {
    case anniversary, calendar

    /// The first calendar boundary of `unit` at or after `instant`, on `zone`'s wall clock.
    public static func calendarAnchor(after instant: Timestamp, unit: BillingInterval.Unit, zone: Zone) -> Timestamp {
        let local = zone.local(instant)
        let days = CivilDateTime.daysFromCivil(year: local.year, month: local.month, day: local.day)
        let midnight = local.hour == 0 && local.minute == 0 && local.second == 0
        var boundary: CivilDateTime
        switch unit {
        case .day:
            boundary = CivilDateTime(epochSeconds: Int64(days + (midnight ? 0 : 1)) * 86_400)
        case .week:
            // 1970-01-01 was a Thursday: Monday is weekday 0.
            let weekday = ((days + 3) % 7 + 7) % 7
            let ahead = weekday == 0 && midnight ? 0 : 7 - weekday
            boundary = CivilDateTime(epochSeconds: Int64(days + ahead) * 86_400)
        case .month:
            boundary = CivilDateTime(year: local.year, month: local.month, day: 1)
            if !(local.day == 1 && midnight) {
                boundary.year += local.month == 12 ? 1 : 0
                boundary.month = local.month % 12 + 1
            }
        case .year:
            boundary = CivilDateTime(
                year: local.year + (local.month == 1 && local.day == 1 && midnight ? 0 : 1), month: 1, day: 1)
        }
        return zone.instant(boundary)
    }
}
