import Billing
import CCurl
import Common

#if canImport(Glibc)
    import Glibc
#endif

/// Many HTTP POSTs in flight on one thread through libcurl's multi interface: connections
/// kept alive and reused per host, 10 s for a whole attempt, no redirects, no proxy from
/// the environment, and the SSRF rule checked on the address each connection is actually
/// opened to (libcurl's open-socket callback: no gap between resolving and connecting).
final class WebhookTransport {
    struct Request {
        var url: String
        var headers: [String]
        var body: [UInt8]
    }

    typealias Outcome = WebhookDeliveryStore.Outcome

    /// One request's state while libcurl runs it; libcurl holds its address.
    private final class Transfer {
        let handle: UnsafeMutableRawPointer
        let allowPrivate: Bool
        let completion: (Outcome) -> Void
        var headers: UnsafeMutablePointer<curl_slist>?
        var excerpt: [UInt8] = []
        /// The answer was longer than the excerpt: the transfer was stopped there.
        var cutShort = false
        var addressRefused = false

        init(handle: UnsafeMutableRawPointer, allowPrivate: Bool, completion: @escaping (Outcome) -> Void) {
            self.handle = handle
            self.allowPrivate = allowPrivate
            self.completion = completion
        }
    }

    static let excerptLimit = 1024
    static let userAgent = "billing-webhooks/1"
    /// Sent with every request (`Expect:` empty: no 100-continue round trip).
    static let fixedHeaders = ["Content-Type: application/json", "Expect:"]
    /// As many as may be in flight at once, by default.
    static let idleHandleLimit = 1024

    private let multi: UnsafeMutableRawPointer
    private let allowPrivate: Bool
    private let timeoutMillis: Int
    private var transfers: [Int: Transfer] = [:]
    private var nextID = 1

    /// libcurl's global set-up, once per process (a worker's threads may each make a transport).
    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// How long an attempt may take, connecting included (`webhooks.md`: 10 s).
    static let attemptMillis = 10_000

    init(allowPrivate: Bool, timeoutMillis: Int = attemptMillis) {
        Self.globalInit
        multi = curl_multi_init()
        self.allowPrivate = allowPrivate
        self.timeoutMillis = timeoutMillis
        // Several connections per host, reused: deliveries to one endpoint do not queue
        // behind each other's round trips.
        _ = billing_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16)
    }

    deinit {
        for transfer in transfers.values { finish(transfer, with: nil) }
        for handle in idleHandles { curl_easy_cleanup(handle) }
        curl_multi_cleanup(multi)
    }

    var inFlight: Int { transfers.count }

    /// Easy handles of finished transfers, kept for the next ones: set up once, a handle
    /// only needs the request's own options again (measured, 16 in flight to nginx on
    /// loopback: 50,000–53,000 requests/s with a new handle each, 55,000–56,000 reused).
    private var idleHandles: [UnsafeMutableRawPointer] = []

    /// A handle with the options every request shares.
    private func makeHandle() -> UnsafeMutableRawPointer? {
        guard let handle = curl_easy_init() else { return nil }
        _ = billing_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = billing_curl_setopt_string(handle, CURLOPT_PROXY, "")
        _ = billing_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = billing_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = billing_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMillis)
        _ = billing_curl_setopt_string(handle, CURLOPT_USERAGENT, Self.userAgent)
        _ = billing_curl_setopt_write(handle) { data, size, count, context in
            guard let data, let context else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            let length = size * count
            let room = WebhookTransport.excerptLimit - transfer.excerpt.count
            data.withMemoryRebound(to: UInt8.self, capacity: length) {
                transfer.excerpt.append(contentsOf: UnsafeBufferPointer(start: $0, count: min(room, length)))
            }
            // Past the excerpt nothing of the answer is needed: stop reading (a 100 MiB or
            // never-ending body costs 1 KiB), keeping the status already received.
            guard length <= room else {
                transfer.cutShort = true
                return 0
            }
            return length
        }
        _ = billing_curl_setopt_opensocket(handle) { context, _, address in
            guard let context, let address else { return CURL_SOCKET_BAD }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            // The address in place: `addr` is declared a `sockaddr` but holds the whole
            // `sockaddr_in6` for IPv6 (a copy of the declared field would cut it short).
            let offset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr) ?? 0
            let bytes = WebhookAddress.bytes(
                of: UnsafeRawPointer(address).advanced(by: offset).assumingMemoryBound(to: sockaddr.self))
            guard let bytes, transfer.allowPrivate || WebhookAddress.isAllowed(bytes) else {
                transfer.addressRefused = true
                return CURL_SOCKET_BAD
            }
            return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
        }
        return handle
    }

    /// Starts a POST; `completion` runs in `poll` once it is over.
    func post(_ request: Request, completion: @escaping (Outcome) -> Void) {
        guard let handle = idleHandles.popLast() ?? makeHandle() else {
            completion(Outcome(status: nil, error: "libcurl could not start a request"))
            return
        }
        let transfer = Transfer(handle: handle, allowPrivate: allowPrivate, completion: completion)
        let id = nextID
        nextID += 1
        transfers[id] = transfer
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        _ = billing_curl_setopt_string(handle, CURLOPT_URL, request.url)
        _ = billing_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, request.body.count)
        request.body.withUnsafeBufferPointer { body in
            _ = billing_curl_setopt_pointer(
                handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress))
        }
        for header in Self.fixedHeaders { transfer.headers = curl_slist_append(transfer.headers, header) }
        for header in request.headers { transfer.headers = curl_slist_append(transfer.headers, header) }
        _ = billing_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(transfer.headers))
        _ = billing_curl_setopt_pointer(handle, CURLOPT_PRIVATE, UnsafeMutableRawPointer(bitPattern: id))
        _ = billing_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = billing_curl_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context)
        curl_multi_add_handle(multi, handle)
    }

    /// Runs transfers for up to `millis` (less when one finishes or `wake` is called), and
    /// calls the completions of those that are over.
    func poll(millis: Int) {
        var running: Int32 = 0
        curl_multi_perform(multi, &running)
        // Waits only when no transfer is over yet: one that just finished must not sit out
        // the timeout (measured: a 5 ms stall after every fast answer, 590 requests/s with
        // one in flight against 11,000).
        if Int(running) == transfers.count && millis > 0 {
            curl_multi_poll(multi, nil, 0, Int32(millis), nil)
            curl_multi_perform(multi, &running)
        }
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            let id = Int(bitPattern: billing_curl_private(handle))
            guard let transfer = transfers[id] else { continue }
            transfers[id] = nil
            finish(transfer, with: message.pointee.data.result)
        }
    }

    /// Makes a sleeping `poll` return now, from any thread: `curl_multi_wakeup` is the one
    /// call on a multi handle that another thread may make. Valid while the transport lives.
    struct Waker: @unchecked Sendable {
        fileprivate let multi: UnsafeMutableRawPointer
        func wake() { curl_multi_wakeup(multi) }
    }

    var waker: Waker { Waker(multi: multi) }

    private func finish(_ transfer: Transfer, with result: CURLcode?) {
        var outcome = Outcome(status: nil, error: nil)
        switch result {
        case CURLE_OK?,
            CURLE_WRITE_ERROR? where transfer.cutShort:
            outcome.status = billing_curl_response_code(transfer.handle)
            outcome.excerpt = String(decoding: transfer.excerpt, as: UTF8.self)
        case CURLE_OPERATION_TIMEDOUT?:
            outcome.error = Outcome.Failure.timeout.rawValue
        case CURLE_COULDNT_CONNECT?:
            outcome.error = (transfer.addressRefused ? Outcome.Failure.addressRefused : .connectionRefused).rawValue
        case CURLE_COULDNT_RESOLVE_HOST?:
            outcome.error = Outcome.Failure.hostNotResolved.rawValue
        case let code?:
            outcome.error = String(cString: curl_easy_strerror(code))
        case nil:
            outcome.error = "the sender stopped"
        }
        curl_multi_remove_handle(multi, transfer.handle)
        if idleHandles.count < Self.idleHandleLimit {
            idleHandles.append(transfer.handle)
        } else {
            curl_easy_cleanup(transfer.handle)
        }
        curl_slist_free_all(transfer.headers)
        transfer.completion(outcome)
    }
}
