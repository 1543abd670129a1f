import Pool
import Testing

@Suite struct ReloadTests {
    private let second: Int64 = 1_000_000_000

    @Test func aReadyGenerationServesAndTheOldOneRetires() {
        var reload = Reload()
        #expect(reload.begin(now: 0, readyTimeout: 15 * second) == 2)
        #expect(reload.progress(allReady: false, now: 1 * second) == .wait)
        #expect(reload.progress(allReady: true, now: 2 * second) == .promote(retired: 1, serving: 2))
        #expect(reload.serving == 2 && reload.pending == nil)
    }

    @Test func aSecondReloadWhileOneStartsIsRefused() {
        var reload = Reload()
        #expect(reload.begin(now: 0, readyTimeout: second) == 2)
        #expect(reload.begin(now: 0, readyTimeout: second) == nil)
        #expect(reload.newest == 2)
    }

    @Test(arguments: [
        // seconds after the start, all ready → step
        (Int64(14), false, Reload.Step.wait),
        (15, false, .wait),
        (16, false, .abandon(2)),
        (16, true, .promote(retired: 1, serving: 2)),
    ])
    func theDeadlineIsTheReadyTimeout(at seconds: Int64, allReady: Bool, step: Reload.Step) {
        var reload = Reload()
        _ = reload.begin(now: 0, readyTimeout: 15 * second)
        #expect(reload.progress(allReady: allReady, now: seconds * second) == step)
    }

    @Test func anAbandonedNumberIsNeverReused() {
        var reload = Reload()
        _ = reload.begin(now: 0, readyTimeout: second)
        #expect(reload.abandon() == 2)
        #expect(reload.serving == 1 && reload.abandon() == nil)
        #expect(reload.begin(now: 5 * second, readyTimeout: second) == 3)
        #expect(reload.progress(allReady: true, now: 5 * second) == .promote(retired: 1, serving: 3))
    }
}
