/// Exponential backoff against crash loops: after a worker dies within `window` of the
/// previous death, the next start waits 0.1 s, 0.2 s, 0.4 s … up to 10 s. A quiet
/// `window` resets it. Pure, so that it is unit-tested with made-up clocks.
public struct Backoff: Equatable, Sendable {
    public static let window: Int64 = 5_000_000_000
    public static let first: Int64 = 100_000_000
    public static let maximum: Int64 = 10_000_000_000

    public private(set) var consecutiveCrashes = 0
    public private(set) var lastCrash: Int64 = 0
    public private(set) var notBefore: Int64 = 0

    public init() {}

    public mutating func recordCrash(now: Int64) {
        consecutiveCrashes = lastCrash > 0 && now - lastCrash < Self.window ? consecutiveCrashes + 1 : 1
        lastCrash = now
        notBefore = consecutiveCrashes > 1 ? now + delay : now
    }

    /// The wait before the next start after the current run of crashes.
    public var delay: Int64 {
        guard consecutiveCrashes > 1 else { return 0 }
        return min(Self.maximum, Self.first << Int64(min(consecutiveCrashes - 2, 20)))
    }

    public func mayStart(now: Int64) -> Bool { now >= notBefore }
}
