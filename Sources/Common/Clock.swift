import CShim

/// The service's clocks, in one place: wall time for what is recorded (timestamps, ids),
/// monotonic time for what is measured (durations, deadlines, caches), which the wall
/// clock must never be used for since it can jump.
public enum Clock {
    /// Seconds since the Unix epoch.
    @inlinable public static func wallSeconds() -> Int64 { Int64(CShim_wallSeconds()) }
    /// Milliseconds since the Unix epoch (UUIDv7 ids).
    @inlinable public static func wallMillis() -> Int64 { Int64(CShim_wallMillis()) }
    /// Nanoseconds of a clock that only moves forward.
    @inlinable public static func monotonicNanos() -> Int64 { Int64(CShim_monotonicNanos()) }
}
