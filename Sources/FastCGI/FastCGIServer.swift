import CFastCGI
import CShim
import Common
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Serves FastCGI requests from an inherited listening socket on a fixed number of
/// threads, each with its own handler, all waiting on one epoll of the listening socket
/// and every open connection (see `serveLoop`).
///
/// `stop()` (safe to call from a signal handler) makes the worker stop accepting; its
/// threads finish their requests and serve the connections nginx keeps open until nginx
/// closes them (bounded), which is how a worker drains.
public final class FastCGIServer: Sendable {
    public let listenFD: Int32
    public let threadCount: Int
    public let maxBodyBytes: Int
    /// After this many requests in total the server stops by itself (0: never), so that
    /// the pool can replace the process (php-fpm's `pm.max_requests`).
    public let maxRequests: Int
    /// The CGI parameters to copy out of each request (all of them when nil), by the length
    /// of their names: most names nginx sends are passed over on their length alone, and a
    /// wanted one is stored under this `name`, not under a String made from its bytes.
    private let wantedParams: [[(name: String, bytes: [UInt8])]]?
    private let wantedParamCount: Int
    private let served = Atomic<Int>(0)

    /// - Parameters:
    ///   - listenFD: the listening socket (fd 0 for a worker spawned by the pool).
    ///   - threadCount: threads, each with its own handler (and database connection).
    ///   - maxBodyBytes: bodies longer than this are not read; the request is flagged instead.
    public init(
        listenFD: Int32 = 0, threadCount: Int, maxBodyBytes: Int = 1 << 20, maxRequests: Int = 0,
        params wanted: [String]? = nil
    ) throws(FastCGIError) {
        self.wantedParamCount = wanted?.count ?? 32
        self.wantedParams = wanted.map { names in
            var byLength = [[(name: String, bytes: [UInt8])]](
                repeating: [], count: (names.map(\.utf8.count).max() ?? 0) + 1)
            for name in names { byLength[name.utf8.count].append((name, Array(name.utf8))) }
            return byLength
        }
        self.listenFD = listenFD
        self.threadCount = threadCount
        self.maxBodyBytes = maxBodyBytes
        self.maxRequests = maxRequests
        guard FCGX_Init() == 0 else { throw FastCGIError(operation: "FCGX_Init", code: -1) }
        // Every process that shares the socket must use the same poll-then-accept loop:
        // O_NONBLOCK is a property of the open file, shared by all of them.
        try check(CShim_setNonBlocking(listenFD, 1), "fcntl(O_NONBLOCK)")
        poller = CShim_pollerCreate()
        try check(poller, "epoll_create1")
        try check(CShim_pollerAddListener(poller, listenFD), "epoll_ctl(listening socket)")
    }

    /// Makes all threads stop accepting and drain (within `stopCheckMillis` when idle).
    /// Idempotent; async-signal-safe work only.
    public func stop() { CShim_requestStop() }

    /// Whether `stop()` or a stop signal came: a flag read without a system call.
    public var stopRequested: Bool { CShim_stopRequested() != 0 }

    /// Whether the server stopped because it served `maxRequests`.
    public var reachedMaxRequests: Bool { maxRequests > 0 && served.load(ordering: .relaxed) >= maxRequests }

    /// Runs the threads until `stop()`, then returns once every request is finished and
    /// every kept connection closed (or given up on after `keptConnectionDrainMillis`).
    /// `makeHandler` is called on each thread with its index.
    public func run(makeHandler: @escaping @Sendable (Int) -> any FastCGIHandler) {
        runOnThreads(threadCount) { index in self.serveLoop(handler: makeHandler(index)) }
    }

    /// How long a stopping worker keeps serving connections that nginx keeps alive before
    /// it closes them itself. nginx closes them first (upstream `keepalive_time` and
    /// `keepalive_timeout`), which is race-free; a close from this side could meet a request
    /// nginx is sending at that moment, and a POST is never retried.
    static let keptConnectionDrainMillis: Int64 = 10_000

    /// How long a read of a started request may wait for more bytes.
    static let stalledReadMillis: Int32 = 5_000

    /// How often an idle thread looks at the stop flag (a signal sets it; no system call).
    static let stopCheckMillis: Int32 = 200

    /// The worker's epoll: the listening socket and every open connection.
    private let poller: Int32
    /// Connections open in this worker; a stopping worker exits when none is left.
    private let openConnections = Atomic<Int>(0)
    private let listenerRemoved = Atomic<Bool>(false)

    /// One thread's loop. All threads of the worker wait on one epoll holding the
    /// listening socket (EPOLLEXCLUSIVE, shared with every worker) and every open
    /// connection (EPOLLONESHOT), each with its own heap-allocated `FCGX_Request` (libfcgi
    /// keeps pointers into it) as its token. Whichever thread is free takes whichever
    /// connections have a request, so a connection nginx keeps alive (`fastcgi_keep_conn on`)
    /// never pins a thread and a slow request never holds up another connection.
    ///
    /// A thread takes every request that is waiting (up to `batchLimit`) at once, which
    /// lets the handler send their database statements together (see `FastCGIHandler`).
    private func serveLoop(handler: any FastCGIHandler) {
        var drainDeadline: Int64? = nil
        var tokens = [UnsafeMutableRawPointer?](repeating: nil, count: Self.batchLimit)
        var connections: [UnsafeMutablePointer<FCGX_Request>] = []
        var requests: [FastCGIRequest] = []
        while true {
            if drainDeadline == nil && stopRequested {
                // Stop accepting; keep serving what nginx sends on open connections.
                if !listenerRemoved.exchange(true, ordering: .relaxed) { _ = CShim_pollerRemove(poller, listenFD) }
                drainDeadline = Self.nowMillis + Self.keptConnectionDrainMillis
            }
            if let deadline = drainDeadline,
                openConnections.load(ordering: .relaxed) == 0 || Self.nowMillis >= deadline
            {
                return
            }
            let count = CShim_pollerWait(poller, &tokens, Int32(Self.batchLimit), Self.stopCheckMillis)
            guard count > 0 else { continue }
            connections.removeAll(keepingCapacity: true)
            requests.removeAll(keepingCapacity: true)
            for token in tokens[0..<Int(count)] {
                guard let token else {
                    acceptConnection()
                    continue
                }
                let connection = token.assumingMemoryBound(to: FCGX_Request.self)
                if let request = receive(on: connection) {
                    connections.append(connection)
                    requests.append(request)
                }
            }
            if requests.count == 1 {
                respond(handler.handle(requests[0]), on: connections[0])
            } else if !requests.isEmpty {
                handler.handle(batch: requests) { index, response in respond(response, on: connections[index]) }
            }
        }
    }

    /// The most requests one thread takes at once: enough to share a database round trip
    /// between many, few enough that other threads still get work.
    static let batchLimit = 8

    private static var nowMillis: Int64 { Clock.monotonicNanos() / 1_000_000 }

    /// Takes a new connection, if another thread or process has not taken it already
    /// (EAGAIN), and leaves its first request to the loop rather than a blocking read.
    private func acceptConnection() {
        let fd = Glibc.accept(listenFD, nil, nil)
        guard fd >= 0 else { return }
        // A thread reads a request once its first bytes arrive; a peer that then stalls
        // mid-request (nginx never does) releases the thread after this long.
        _ = CShim_setReceiveTimeout(fd, Self.stalledReadMillis)
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        // No listening socket: libfcgi only reads requests from the connection it is given.
        FCGX_InitRequest(request, -1, 0)
        request.pointee.ipcFd = fd
        // libfcgi would linger before closing, shutting down writes and waiting up to 2 s
        // for the web server to close first, with this thread blocked. Every request's
        // input is read to its end (drainInput), so a plain close loses nothing.
        request.pointee.detached = 1
        openConnections.add(1, ordering: .relaxed)
        if CShim_pollerAddConnection(poller, fd, request) != 0 { forget(request) }
    }

    /// Reads the request waiting on a connection, or forgets the connection if nginx closed it.
    private func receive(on connection: UnsafeMutablePointer<FCGX_Request>) -> FastCGIRequest? {
        // FCGX_Accept_r first finishes the previous request, which closes the connection
        // unless it is marked as kept; with an open connection it reads instead of accepting.
        connection.pointee.keepConnection = 1
        guard FCGX_Accept_r(connection) >= 0 else {
            forget(connection)
            return nil
        }
        let count = served.add(1, ordering: .relaxed).newValue
        if maxRequests > 0 && count >= maxRequests { stop() }
        return readRequest(connection)
    }

    /// Writes the response, then hands the connection back to the epoll, or forgets it once
    /// it is closed (by nginx, or after a response without keep-conn).
    private func respond(_ response: FastCGIResponse, on connection: UnsafeMutablePointer<FCGX_Request>) {
        let fd = connection.pointee.ipcFd
        writeResponse(response, to: connection)
        FCGX_Finish_r(connection)
        if connection.pointee.ipcFd < 0 || CShim_pollerRearmConnection(poller, fd, connection) != 0 {
            forget(connection)
        }
    }

    /// Closes the connection if libfcgi has not (closing also removes it from the epoll).
    private func forget(_ request: UnsafeMutablePointer<FCGX_Request>) {
        if request.pointee.ipcFd >= 0 { FCGX_Free(request, 1) }
        request.deallocate()
        openConnections.subtract(1, ordering: .relaxed)
    }

    private func readRequest(_ request: UnsafeMutablePointer<FCGX_Request>) -> FastCGIRequest {
        var params: [String: String] = [:]
        params.reserveCapacity(wantedParamCount)
        var unreadable: Set<String> = []
        if var entry = request.pointee.envp {
            while let pointer = entry.pointee {
                entry += 1
                // "NAME=value": split on the first '=' without going through Character.
                guard let equals = strchr(pointer, Int32(UInt8(ascii: "="))) else { continue }
                let nameLength = pointer.distance(to: equals)
                let name: String
                if let wanted = wantedParams {
                    guard nameLength < wanted.count,
                        let match = wanted[nameLength].first(where: { memcmp($0.bytes, pointer, nameLength) == 0 })
                    else { continue }
                    name = match.name
                } else {
                    name = String(decoding: UnsafeRawBufferPointer(start: pointer, count: nameLength), as: UTF8.self)
                }
                // A repeated parameter (a header sent twice) or one that is not UTF-8 must not
                // silently become one of its values or a repaired string: it is reported.
                guard let value = String(validatingCString: equals + 1) else {
                    unreadable.insert(name)
                    continue
                }
                if params.updateValue(value, forKey: name) != nil { unreadable.insert(name) }
            }
        }
        for name in unreadable { params[name] = nil }
        let declared = params["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        guard declared > 0 else {
            drainInput(request)
            return FastCGIRequest(params: params, body: [], unreadableParams: unreadable)
        }
        guard declared <= maxBodyBytes else {
            drainInput(request)
            return FastCGIRequest(params: params, body: [], bodyTooLarge: true, unreadableParams: unreadable)
        }
        var body = [UInt8](repeating: 0, count: declared)
        var received = 0
        body.withUnsafeMutableBytes { buffer in
            while received < declared {
                let count = FCGX_GetStr(
                    buffer.baseAddress!.advanced(by: received).assumingMemoryBound(to: CChar.self),
                    Int32(declared - received), request.pointee.in)
                if count <= 0 { break }
                received += Int(count)
            }
        }
        body.removeLast(declared - received)
        drainInput(request)
        return FastCGIRequest(params: params, body: body, unreadableParams: unreadable)
    }

    /// Reads the request's input up to its end-of-stream record, so that nothing is left
    /// unread when the connection closes.
    private func drainInput(_ request: UnsafeMutablePointer<FCGX_Request>) {
        // On the stack: this runs for every request, and almost always finds nothing.
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 512) { scratch in
            while FCGX_GetStr(scratch.baseAddress, Int32(scratch.count), request.pointee.in) > 0 {}
        }
    }

    private func writeResponse(_ response: FastCGIResponse, to request: UnsafeMutablePointer<FCGX_Request>) {
        let head = response.headerBytes
        head.withUnsafeBytes { buffer in
            _ = FCGX_PutStr(
                buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buffer.count), request.pointee.out)
        }
        if !response.body.isEmpty {
            response.body.withUnsafeBytes { buffer in
                _ = FCGX_PutStr(
                    buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(buffer.count), request.pointee.out)
            }
        }
    }
}

/// A failed system or libfcgi call, with the errno (as a positive code) it returned.
public struct FastCGIError: Error, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
}

@inline(__always)
private func check(_ result: Int32, _ operation: String) throws(FastCGIError) {
    if result < 0 { throw FastCGIError(operation: operation, code: -result) }
}

extension FastCGIServer {
    /// Makes SIGTERM, SIGINT and SIGQUIT stop accepting: the signal handler sets the stop
    /// flag that every thread reads after each request and each `stopCheckMillis` idle.
    public func stopOnSignals() {
        let signals: [Int32] = [SIGTERM, SIGINT, SIGQUIT]
        _ = CShim_signalsToPipe(-1, signals, Int32(signals.count))
    }
}
