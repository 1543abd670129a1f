import Pool
import Testing

@Suite struct BackoffTests {
    private let second: Int64 = 1_000_000_000

    @Test func aSingleCrashIsReplacedAtOnce() {
        var backoff = Backoff()
        backoff.recordCrash(now: 10 * second)
        #expect(backoff.mayStart(now: 10 * second))
    }

    @Test func repeatedCrashesWaitExponentiallyUpToTenSeconds() {
        var backoff = Backoff()
        var now = 10 * second
        var delays: [Int64] = []
        for _ in 0..<10 {
            backoff.recordCrash(now: now)
            delays.append(backoff.delay)
            now += second / 2
        }
        #expect(delays.prefix(6) == [0, 100_000_000, 200_000_000, 400_000_000, 800_000_000, 1_600_000_000])
        #expect(delays.last == 10 * second)
        #expect(!backoff.mayStart(now: now - second / 2 + 1))
    }

    @Test func aQuietWindowResetsTheBackoff() {
        var backoff = Backoff()
        backoff.recordCrash(now: second)
        backoff.recordCrash(now: 2 * second)
        #expect(backoff.delay > 0)
        backoff.recordCrash(now: 20 * second)
        #expect(backoff.delay == 0)
    }
}
