import CShim
import Common

#if canImport(Glibc)
    import Glibc
#endif

/// A small shared-memory file that the master and all workers map, as php-fpm's
/// scoreboard: pool-wide counters (they survive worker recycling), a request-duration
/// histogram, counts by route and status class, and one slot per worker process with
/// what each of its threads is doing. Words are 64-bit and updated atomically.
public final class Scoreboard: @unchecked Sendable {
    public static let maxSlots = 64
    public static let maxThreads = 64
    public static let maxRoutes = 128
    /// Upper bounds (seconds) of the duration histogram; a last bucket catches the rest.
    public static let bucketBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    enum Header: Int {
        case magic = 0
        case startTime, generation, reloads, reloadsFailed, restartsCrash, restartsRecycle,
            restartsTimeout, accepted, maxBusy, busy, databaseErrors, lastReload, masterPID, workersConfigured,
            threadsPerWorker, prefetchRoundTrips, prefetchedStatements
    }

    static let magic: UInt64 = 0x6269_6C6C_5342_0002
    static let headerWords = 32
    static let routeWords = maxRoutes * 5
    static let histogramOffset = headerWords + routeWords
    static let histogramWords = 32
    static let slotsOffset = histogramOffset + histogramWords
    static let slotHeaderWords = 16
    static let threadWords = 16
    static let slotWords = slotHeaderWords + maxThreads * threadWords
    static let totalWords = slotsOffset + maxSlots * slotWords

    let words: UnsafeMutablePointer<UInt64>

    private init(words: UnsafeMutablePointer<UInt64>) { self.words = words }

    /// Creates a fresh scoreboard (the master does this once at start).
    public static func create(path: String) throws -> Scoreboard {
        guard let memory = CShim_mapShared(path, UInt(totalWords * 8), 1) else {
            throw PoolError("cannot create the scoreboard at \(path): \(String(cString: strerror(errno)))")
        }
        let board = Scoreboard(words: memory.assumingMemoryBound(to: UInt64.self))
        board.set(.magic, magic)
        return board
    }

    /// Maps an existing scoreboard (workers, `billing reload`).
    public static func attach(path: String) throws -> Scoreboard {
        guard let memory = CShim_mapShared(path, UInt(totalWords * 8), 0) else {
            throw PoolError("cannot open the scoreboard at \(path): \(String(cString: strerror(errno)))")
        }
        let board = Scoreboard(words: memory.assumingMemoryBound(to: UInt64.self))
        guard board.get(.magic) == magic else { throw PoolError("\(path) is not a billing scoreboard") }
        return board
    }

    // MARK: words

    func load(_ offset: Int) -> UInt64 { CShim_atomicLoad(words + offset) }
    func store(_ offset: Int, _ value: UInt64) { CShim_atomicStore(words + offset, value) }
    @discardableResult func add(_ offset: Int, _ value: UInt64 = 1) -> UInt64 { CShim_atomicAdd(words + offset, value) }

    func get(_ field: Header) -> UInt64 { load(field.rawValue) }
    func set(_ field: Header, _ value: UInt64) { store(field.rawValue, value) }
    func increment(_ field: Header) { add(field.rawValue) }

    // MARK: requests (workers)

    /// Records a finished request in the pool-wide counters.
    public func recordRequest(route: Int, status: Int, seconds: Double) {
        let statusClass = min(max(status / 100, 1), 5) - 1
        add(Self.headerWords + min(max(route, 0), Self.maxRoutes - 1) * 5 + statusClass)
        let bucket = Self.bucketBounds.firstIndex { seconds <= $0 } ?? Self.bucketBounds.count
        add(Self.histogramOffset + bucket)
        add(Self.histogramOffset + 30, UInt64(max(0, seconds * 1_000_000)))
        add(Self.histogramOffset + 31)
        increment(.accepted)
    }

    public func recordDatabaseError() { increment(.databaseErrors) }

    /// Counts one round trip that carried the first statements of `statements` requests.
    public func recordPrefetch(statements: Int) {
        increment(.prefetchRoundTrips)
        add(Header.prefetchedStatements.rawValue, UInt64(statements))
    }

    /// Counts a thread as busy for `/status`'s busy/idle and max busy.
    func threadBecameBusy() {
        let busy = add(Header.busy.rawValue)
        CShim_atomicMax(words + Header.maxBusy.rawValue, busy)
    }

    func threadBecameIdle() { add(Header.busy.rawValue, UInt64.max) }  // wraps: subtracts one

    public func requestCount(route: Int, statusClass: Int) -> UInt64 {
        load(Self.headerWords + route * 5 + statusClass)
    }

    public var histogram: (buckets: [UInt64], sumSeconds: Double, count: UInt64) {
        let buckets = (0...Self.bucketBounds.count).map { load(Self.histogramOffset + $0) }
        return (buckets, Double(load(Self.histogramOffset + 30)) / 1_000_000, load(Self.histogramOffset + 31))
    }

    // MARK: slots

    public func slot(_ index: Int) -> Slot { Slot(board: self, index: index) }

    public var slots: [Slot] { (0..<Self.maxSlots).map(slot) }
}

/// One worker process's part of the scoreboard.
public struct Slot: Sendable {
    public enum State: UInt64, Sendable {
        case free = 0
        case starting, ready, draining
        public var name: String {
            switch self {
            case .free: return "free"
            case .starting: return "starting"
            case .ready: return "ready"
            case .draining: return "draining"
            }
        }
    }

    enum Field: Int {
        case pid = 0
        case generation, state, requests, threads, startedAt
    }

    public let board: Scoreboard
    public let index: Int
    var base: Int { Scoreboard.slotsOffset + index * Scoreboard.slotWords }

    func read(_ field: Field) -> UInt64 { board.load(base + field.rawValue) }
    func write(_ field: Field, _ value: UInt64) { board.store(base + field.rawValue, value) }

    public var pid: Int32 { Int32(truncatingIfNeeded: read(.pid)) }
    public var generation: Int { Int(read(.generation)) }
    public var state: State { State(rawValue: read(.state)) ?? .free }
    public var requests: UInt64 { read(.requests) }
    public var threads: Int { Int(read(.threads)) }
    public var startedAt: Int64 { Int64(read(.startedAt)) }

    /// The master claims the slot for a new worker before starting it.
    func claim(pid: Int32, generation: Int) {
        write(.requests, 0)
        write(.threads, 0)
        for thread in 0..<Scoreboard.maxThreads { board.store(threadBase(thread), 0) }
        write(.pid, UInt64(UInt32(bitPattern: pid)))
        write(.generation, UInt64(generation))
        write(.startedAt, UInt64(max(0, Clock.wallSeconds())))
        write(.state, State.starting.rawValue)
    }

    /// Frees the slot of a worker that exited. Requests it was serving when it died are
    /// taken off the pool's busy count, which would otherwise drift up for good.
    func release() {
        let abandoned = current.count
        if abandoned > 0 { board.add(Scoreboard.Header.busy.rawValue, UInt64(bitPattern: Int64(-abandoned))) }
        for thread in 0..<Scoreboard.maxThreads { board.store(threadBase(thread), 0) }
        write(.state, State.free.rawValue)
        write(.pid, 0)
    }

    public func markReady(threads: Int) {
        write(.threads, UInt64(threads))
        write(.state, State.ready.rawValue)
    }

    public func markDraining() { write(.state, State.draining.rawValue) }

    // MARK: per-thread requests

    func threadBase(_ thread: Int) -> Int { base + Scoreboard.slotHeaderWords + thread * Scoreboard.threadWords }

    /// What one thread is serving right now, for `/status` and the request timeout.
    public struct Current: Sendable {
        public var thread: Int
        public var startedMillis: Int64
        public var method: String
        public var path: String
        public var requestID: String
    }

    public func begin(thread: Int, method: String, path: String, requestID: String) {
        board.threadBecameBusy()
        guard thread < Scoreboard.maxThreads else { return }
        let base = threadBase(thread)
        writeText(method, at: base + 1, words: 1)
        writeText(requestID, at: base + 2, words: 4)
        writeText(path, at: base + 6, words: 8)
        board.store(base, UInt64(max(1, CShim_wallMillis())))
    }

    public func end(thread: Int, countingRequest: Bool = true) {
        board.threadBecameIdle()
        if countingRequest { board.add(base + Field.requests.rawValue) }
        guard thread < Scoreboard.maxThreads else { return }
        board.store(threadBase(thread), 0)
    }

    public var current: [Current] {
        (0..<min(max(threads, 1), Scoreboard.maxThreads)).compactMap { thread in
            let base = threadBase(thread)
            let started = Int64(board.load(base))
            guard started > 0 else { return nil }
            return Current(
                thread: thread, startedMillis: started, method: readText(at: base + 1, words: 1),
                path: readText(at: base + 6, words: 8), requestID: readText(at: base + 2, words: 4))
        }
    }

    /// Stores the first `words * 8` bytes of `text`, zero-padded, without allocating (this
    /// runs three times a request).
    private func writeText(_ text: String, at offset: Int, words: Int) {
        var bytes = text.utf8.makeIterator()
        for word in 0..<words {
            var value: UInt64 = 0
            for shift in stride(from: UInt64(0), to: 64, by: 8) {
                guard let byte = bytes.next() else { break }
                value |= UInt64(byte) << shift
            }
            // Bytes in memory order, as `readText` reads them back.
            board.store(offset + word, UInt64(littleEndian: value))
        }
    }

    private func readText(at offset: Int, words: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: words * 8)
        bytes.withUnsafeMutableBytes { raw in
            for word in 0..<words {
                raw.storeBytes(of: board.load(offset + word), toByteOffset: word * 8, as: UInt64.self)
            }
        }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
