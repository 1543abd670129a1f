import Common
import Testing

@testable import Billing

/// documents.md: report buckets are `[start, end)` in UTC from `from`, at most 366.
@Suite struct ReportBucketsTests {
    private func time(_ text: String) -> Timestamp { Timestamp(parsing: text)! }

    @Test func monthsKeepTheDayOfFromOrTheMonthsLast() throws {
        let buckets = try #require(
            ReportService.Buckets(
                from: time("2025-01-31T10:00:00Z"), to: time("2025-04-15T00:00:00Z"), interval: .month))
        #expect(
            buckets.starts.map(\.description) == [
                "2025-01-31T10:00:00Z", "2025-02-28T10:00:00Z", "2025-03-31T10:00:00Z",
            ])
        #expect(
            buckets.ends.map(\.description) == [
                "2025-02-28T10:00:00Z", "2025-03-31T10:00:00Z", "2025-04-15T00:00:00Z",
            ])
    }

    @Test func bucketsAreAdjacentAndCoverTheRange() throws {
        let buckets = try #require(
            ReportService.Buckets(from: time("2024-01-01T00:00:00Z"), to: time("2025-01-01T00:00:00Z"), interval: .day))
        #expect(buckets.starts.count == 366)  // a leap year of days: the limit, allowed
        #expect(buckets.starts.first == time("2024-01-01T00:00:00Z"))
        #expect(buckets.ends.last == time("2025-01-01T00:00:00Z"))
        for index in 1..<buckets.starts.count { #expect(buckets.starts[index] == buckets.ends[index - 1]) }
    }

    @Test(arguments: [
        ("2024-01-01T00:00:00Z", "2025-01-02T00:00:00Z", BillingInterval.Unit.day),
        ("2000-01-01T00:00:00Z", "2031-01-01T00:00:00Z", .month),
    ])
    func moreThan366BucketsAreRefused(from: String, to: String, interval: BillingInterval.Unit) {
        #expect(ReportService.Buckets(from: time(from), to: time(to), interval: interval) == nil)
    }

    @Test func anEmptyRangeHasNoBuckets() throws {
        let buckets = try #require(
            ReportService.Buckets(from: time("2025-01-01T00:00:00Z"), to: time("2025-01-01T00:00:00Z"), interval: .day))
        #expect(buckets.starts.isEmpty)
    }
}
