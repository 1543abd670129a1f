/// The master's reload bookkeeping, pure so that its rules are table-tested (as `Backoff`):
/// which generation serves, which one is starting, when it must be ready, and what comes
/// next. A new generation is started first and the old one retired only once every new
/// worker is ready; a generation that is not ready in time, or whose worker dies first, is
/// abandoned and the old one serves on. A generation's number is never reused.
public struct Reload: Equatable, Sendable {
    /// The generation that serves.
    public private(set) var serving = 1
    /// The newest number handed out (abandoned generations included).
    public private(set) var newest = 1
    /// The generation starting, if a reload is in progress.
    public private(set) var pending: Int?
    /// When the pending generation must be ready (monotonic nanoseconds).
    public private(set) var deadline: Int64 = 0

    public enum Step: Equatable, Sendable {
        /// Nothing to do yet.
        case wait
        /// The pending generation is ready: it serves now, and `retired` drains.
        case promote(retired: Int, serving: Int)
        /// The pending generation missed its deadline: kill it; the old one serves on.
        case abandon(Int)
    }

    public init() {}

    /// Starts a new generation and returns its number; nil while one is already starting.
    public mutating func begin(now: Int64, readyTimeout: Int64) -> Int? {
        guard pending == nil else { return nil }
        newest += 1
        pending = newest
        deadline = now + readyTimeout
        return newest
    }

    /// What to do, given whether every worker of the pending generation is ready.
    public mutating func progress(allReady: Bool, now: Int64) -> Step {
        guard let next = pending else { return .wait }
        if allReady {
            let retired = serving
            serving = next
            pending = nil
            return .promote(retired: retired, serving: next)
        }
        guard now > deadline else { return .wait }
        pending = nil
        return .abandon(next)
    }

    /// Gives up the pending generation (one of its workers died, or the pool stops); returns
    /// it, or nil when none was starting.
    public mutating func abandon() -> Int? {
        defer { pending = nil }
        return pending
    }
}
