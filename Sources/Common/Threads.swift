#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body(index)` for every index below `count`, each on a thread of its own, and returns
/// when all have finished. A thread the system refuses runs its work on the calling thread
/// instead, so no work is ever skipped. Plain pthreads: the pool's workers and `run-due`
/// own their threads and their database connections for their whole life.
public func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Start: Sendable {
        let index: Int
        let body: @Sendable (Int) -> Void
        init(index: Int, body: @escaping @Sendable (Int) -> Void) {
            self.index = index
            self.body = body
        }
    }
    var threads: [pthread_t] = []
    var refused: [Int] = []
    for index in 0..<count {
        let start = Unmanaged.passRetained(Start(index: index, body: body))
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { raw in
                let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
                start.body(start.index)
                return nil
            }, start.toOpaque())
        if result == 0 {
            threads.append(thread)
        } else {
            start.release()
            refused.append(index)
        }
    }
    for index in refused { body(index) }
    for thread in threads { pthread_join(thread, nil) }
}

/// The system refused a thread.
public struct ThreadRefused: Error {}

/// Runs `background` on a thread of its own while `body` runs on the calling thread, and
/// returns `body`'s result once both are over: `body` must make `background` end.
public func alongside<T>(_ background: @escaping @Sendable () -> Void, _ body: () throws -> T) throws -> T {
    let start = Unmanaged.passRetained(Background(background))
    var thread = pthread_t()
    let created = pthread_create(
        &thread, nil,
        { raw in
            Unmanaged<Background>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, start.toOpaque())
    guard created == 0 else {
        start.release()
        throw ThreadRefused()
    }
    defer { pthread_join(thread, nil) }
    return try body()
}

private final class Background: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}
