import CFastCGI
import CShim
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Serves FastCGI requests from an inherited listening socket on a fixed number of
/// threads, each with its own heap-allocated `FCGX_Request` and its own handler.
///
/// Threads wait in `epoll_wait()` on the listening socket (EPOLLEXCLUSIVE: a connection
/// wakes one thread, not all of them) and on a wake pipe; `stop()` (safe to call from a
/// signal handler) makes every idle thread leave at once and every busy thread leave after
/// finishing its request, which is how a worker drains.
public final class FastCGIServer: @unchecked Sendable {
    public let listenFD: Int32
    public let threadCount: Int
    public let maxBodyBytes: Int
    /// After this many requests in total the server stops by itself (0: never), so that
    /// the pool can replace the process (php-fpm's `pm.max_requests`).
    public let maxRequests: Int
    /// The CGI parameters to copy out of each request (all of them when nil): copying only
    /// what the application reads saves a dozen allocations per request.
    private let wantedParams: [[UInt8]]?
    private let served = Atomic<Int>(0)
    private let wakeRead: Int32
    private let wakeWrite: Int32
    var wakeWriteFD: Int32 { wakeWrite }

    /// - Parameters:
    ///   - listenFD: the listening socket (fd 0 for a worker spawned by the pool).
    ///   - threadCount: accept threads, each with its own handler.
    ///   - maxBodyBytes: bodies longer than this are not read; the request is flagged instead.
    public init(
        listenFD: Int32 = 0, threadCount: Int, maxBodyBytes: Int = 1 << 20, maxRequests: Int = 0,
        params wanted: [String]? = nil
    ) throws(FastCGIError) {
        self.wantedParams = wanted?.map { Array($0.utf8) }
        self.listenFD = listenFD
        self.threadCount = threadCount
        self.maxBodyBytes = maxBodyBytes
        self.maxRequests = maxRequests
        var fds: [Int32] = [-1, -1]
        try check(CShim_pipe(&fds), "pipe")
        wakeRead = fds[0]
        wakeWrite = fds[1]
        guard FCGX_Init() == 0 else { throw FastCGIError(operation: "FCGX_Init", code: -1) }
        // Every process that shares the socket must use the same poll-then-accept loop:
        // O_NONBLOCK is a property of the open file, shared by all of them.
        try check(CShim_setNonBlocking(listenFD, 1), "fcntl(O_NONBLOCK)")
    }

    /// Makes all threads stop accepting. Idempotent; async-signal-safe work only.
    public func stop() {
        CShim_requestStop()
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Whether `stop()` or a stop signal came: a flag read without a system call.
    public var stopRequested: Bool { CShim_stopRequested() != 0 }

    /// Whether the server stopped because it served `maxRequests`.
    public var reachedMaxRequests: Bool { maxRequests > 0 && served.load(ordering: .relaxed) >= maxRequests }

    /// Runs the accept threads until `stop()`, then returns after all of them finished
    /// their current request. `makeHandler` is called on each thread with its index.
    public func run(makeHandler: @escaping @Sendable (Int) -> FastCGIHandler) {
        var threads: [pthread_t] = []
        for index in 0..<threadCount {
            let context = Unmanaged.passRetained(ThreadContext(server: self, index: index, makeHandler: makeHandler))
            var thread = pthread_t()
            let result = pthread_create(
                &thread, nil,
                { raw in
                    let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
                    context.server.acceptLoop(handler: context.makeHandler(context.index))
                    return nil
                }, context.toOpaque())
            if result == 0 { threads.append(thread) } else { context.release() }
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    private final class ThreadContext {
        let server: FastCGIServer
        let index: Int
        let makeHandler: @Sendable (Int) -> FastCGIHandler
        init(server: FastCGIServer, index: Int, makeHandler: @escaping @Sendable (Int) -> FastCGIHandler) {
            self.server = server
            self.index = index
            self.makeHandler = makeHandler
        }
    }

    private func acceptLoop(handler: FastCGIHandler) {
        // libfcgi keeps pointers into the request: it must never move.
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, listenFD, 0)
        let poller = CShim_acceptPoller(listenFD, wakeRead)
        defer { if poller >= 0 { close(poller) } }
        while true {
            // A kept-alive connection may already hold the next request.
            if request.pointee.ipcFd < 0 {
                let ready =
                    poller >= 0
                    ? CShim_waitAcceptPoller(poller, wakeRead, -1) : CShim_waitReadable(listenFD, wakeRead, -1)
                if ready == 2 { break }
                if ready != 1 { continue }
            } else if stopRequested {
                break
            }
            // Another thread or process may have taken the connection: EAGAIN, wait again.
            guard FCGX_Accept_r(request) >= 0 else { continue }
            let count = served.add(1, ordering: .relaxed).newValue
            let last = maxRequests > 0 && count >= maxRequests
            if last { stop() }
            // The last response of a stopping worker must not leave the connection open.
            if last || stopRequested { request.pointee.keepConnection = 0 }
            let incoming = readRequest(request)
            let response = handler.handle(incoming)
            writeResponse(response, to: request)
            // libfcgi would linger after the response, shutting down writes and waiting up
            // to 2 s for the web server to close first, with this thread blocked. All the
            // input has been read (drainInput), so a plain close loses nothing.
            if request.pointee.keepConnection == 0 { request.pointee.detached = 1 }
            FCGX_Finish_r(request)
        }
        if request.pointee.ipcFd >= 0 { FCGX_Free(request, 1) }
    }

    private func readRequest(_ request: UnsafeMutablePointer<FCGX_Request>) -> FastCGIRequest {
        var params: [String: String] = [:]
        params.reserveCapacity(wantedParams?.count ?? 32)
        if var entry = request.pointee.envp {
            while let pointer = entry.pointee {
                entry += 1
                // "NAME=value": split on the first '=' without going through Character.
                guard let equals = strchr(pointer, Int32(UInt8(ascii: "="))) else { continue }
                let nameLength = pointer.distance(to: equals)
                let name = UnsafeRawBufferPointer(start: pointer, count: nameLength)
                if let wanted = wantedParams, !wanted.contains(where: { $0.elementsEqual(name) }) { continue }
                params[String(decoding: name, as: UTF8.self)] = String(cString: equals + 1)
            }
        }
        let declared = params["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        guard declared > 0 else {
            drainInput(request)
            return FastCGIRequest(params: params, body: [])
        }
        guard declared <= maxBodyBytes else {
            drainInput(request)
            return FastCGIRequest(params: params, body: [], bodyTooLarge: true)
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
        return FastCGIRequest(params: params, body: body)
    }

    /// Reads the request's input up to its end-of-stream record, so that nothing is left
    /// unread when the connection closes.
    private func drainInput(_ request: UnsafeMutablePointer<FCGX_Request>) {
        var scratch = [CChar](repeating: 0, count: 4096)
        while FCGX_GetStr(&scratch, Int32(scratch.count), request.pointee.in) > 0 {}
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
    /// Makes SIGTERM, SIGINT and SIGQUIT stop accepting: the signal handler writes to the
    /// wake pipe that every accept thread polls, so idle threads leave at once and busy
    /// ones after their current request.
    public func stopOnSignals() {
        let signals: [Int32] = [SIGTERM, SIGINT, SIGQUIT]
        _ = CShim_signalsToPipe(wakeWriteFD, signals, Int32(signals.count))
    }
}
