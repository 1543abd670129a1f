#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body(index)` for every index below `count`, each on a thread of its own, and returns
/// when all have finished. A thread the system refuses runs its work on the calling thread
/// instead, so no work is ever skipped. Plain pthreads: the pool's workers and `run-due`
/// own their threads and their database connections for their whole life.
public func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [pthread_t] = []
    var refused: [Int] = []
    for index in 0..<count {
        if let thread = startThread({ body(index) }) { threads.append(thread) } else { refused.append(index) }
    }
    for index in refused { body(index) }
    for thread in threads { pthread_join(thread, nil) }
}

/// Collects the results of `inParallel`'s threads: each thread writes only its own
/// element of a fixed buffer, so no two threads touch the same memory.
private final class Results<T>: @unchecked Sendable {
    let values: UnsafeMutablePointer<T?>
    let count: Int
    init(count: Int) {
        self.count = count
        values = .allocate(capacity: count)
        values.initialize(repeating: nil, count: count)
    }
    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }
}

/// Runs `body` on `count` threads at once and returns their results in order.
public func inParallel<T>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let results = Results<T>(count: count)
    runOnThreads(count) { index in results.values[index] = body(index) }
    return (0..<count).map { results.values[$0]! }
}

/// The system refused a thread.
public struct ThreadRefused: Error {}

/// Runs `background` on a thread of its own while `body` runs on the calling thread, and
/// returns `body`'s result once both are over: `body` must make `background` end.
public func alongside<T>(_ background: @escaping @Sendable () -> Void, _ body: () throws -> T) throws -> T {
    guard let thread = startThread(background) else { throw ThreadRefused() }
    defer { pthread_join(thread, nil) }
    return try body()
}

/// Starts `body` on a new thread; nil when the system refuses one (then `body` never runs).
private func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    let start = Unmanaged.passRetained(Background(body))
    var thread = pthread_t()
    let created = pthread_create(
        &thread, nil,
        { raw in
            Unmanaged<Background>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, start.toOpaque())
    guard created == 0 else {
        start.release()
        return nil
    }
    return thread
}

private final class Background: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}
