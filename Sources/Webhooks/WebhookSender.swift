import Billing
import Common
import Logging
import Postgres

/// Delivers what the events' trigger queued (`webhooks.md`): claims due deliveries under a
/// lease (`FOR UPDATE SKIP LOCKED`, so that any number of senders share them and none is
/// sent by two at once), posts them through one `WebhookTransport`, and records the
/// outcomes in batches with their next attempts.
///
/// Two threads: one only moves bytes (the transport), the other only talks to the database
/// (claims and records), so no database round trip ever stalls a transfer (measured: with
/// both on one thread, a third of the time went to waiting on them). Each endpoint has at
/// most `perEndpoint` requests in flight and a queue of claimed deliveries behind them, as
/// long as it can send well within the lease (a fast endpoint keeps up to 4,000, one that
/// takes 10 s an answer a few dozen), so a slow endpoint never holds up the others.
public final class WebhookSender {
    private let conninfo: String
    private let settings: WebhookSettings
    private let logger: Logger
    private let capacity: Int
    private let perEndpoint: Int
    private let transport: WebhookTransport
    /// Each endpoint's claimed deliveries not yet started, in event order, and how many of
    /// its requests are in flight: the transfer thread's alone.
    private var queues: [ID<WebhookEndpoint>: (queue: ArraySlice<Exchange.Ready>, inFlight: Int)] = [:]
    private var finished: [Exchange.Finished] = []
    private var signature = WebhookSignature()
    private var expired: [ID<WebhookEndpoint>] = []

    public init(
        conninfo: String, settings: WebhookSettings, logger: Logger, capacity: Int = 1024, perEndpoint: Int = 16
    ) {
        self.conninfo = conninfo
        self.settings = settings
        self.logger = logger
        self.capacity = capacity
        self.perEndpoint = perEndpoint
        transport = WebhookTransport(allowPrivate: settings.allowPrivate)
    }

    /// Runs until `stopping()` is true, then lets what is in flight finish (each attempt
    /// takes at most 10 s), records it and releases what was queued. A database error ends
    /// the run (the pool starts the sender again); then what it held is taken again when
    /// its lease passes.
    public func run(stopping: () -> Bool) throws {
        let exchange = Exchange()
        let books = WebhookBooks(
            conninfo: conninfo, settings: settings, logger: logger, perEndpoint: perEndpoint,
            exchange: exchange, waker: transport.waker)
        try alongside(books.keep) {
            var unsent: [WebhookDeliveryStore.Claimed] = []
            // However the transfers end, the books thread is told to, so that it ends too.
            defer {
                let (finished, expired, unsent) = (finished, expired, unsent)
                exchange.state.withLock {
                    $0.finished.append(contentsOf: finished)
                    $0.expired.append(contentsOf: expired)
                    $0.unsent = unsent
                }
            }
            guard transfer(exchange, stopping: stopping) else { return }
            while transport.inFlight > 0 { transport.poll(millis: 100) }
            unsent = queues.values.flatMap { $0.queue.map(\.delivery) }
        }
        if let failure = exchange.state.withLock({ $0.failure }) { throw failure }
    }

    /// Moves claimed deliveries into their endpoints' queues, starts them and hands their
    /// outcomes over, until `stopping()` (answers true) or the books thread failed (false).
    private func transfer(_ exchange: Exchange, stopping: () -> Bool) -> Bool {
        var claimed: [Exchange.Ready] = []
        while !stopping() {
            let failed = exchange.state.withLock {
                swap(&claimed, &$0.claimed)
                $0.finished.append(contentsOf: finished)
                $0.expired.append(contentsOf: expired)
                return $0.failure != nil
            }
            finished.removeAll(keepingCapacity: true)
            expired.removeAll(keepingCapacity: true)
            guard !failed else { return false }
            for ready in claimed { queues[ready.delivery.endpointID, default: ([], 0)].queue.append(ready) }
            // A slice keeps what it has given out until it is copied: an endpoint that never
            // runs dry would otherwise hold every delivery it was ever sent.
            for (id, endpoint) in queues where endpoint.queue.startIndex >= 4_096 {
                queues[id]?.queue = ArraySlice(Array(endpoint.queue))
            }
            claimed.removeAll(keepingCapacity: true)
            startQueued()
            let busy = transport.inFlight > 0 || queues.values.contains { !$0.queue.isEmpty }
            transport.poll(millis: busy ? 5 : 100)
            startQueued()
            // Sends what was just started before the next lock.
            transport.poll(millis: 0)
        }
        return true
    }

    /// Starts queued deliveries, each endpoint's in order, up to its cap and the transport's:
    /// first one for every endpoint with nothing in flight, so that endpoints that hold their
    /// slots (slow or dead ones) never leave another with none.
    private func startQueued() {
        for (id, endpoint) in queues where endpoint.inFlight == 0 && !endpoint.queue.isEmpty {
            startNext(of: id)
        }
        for id in Array(queues.keys) {
            while let endpoint = queues[id], endpoint.inFlight < perEndpoint, !endpoint.queue.isEmpty,
                transport.inFlight < capacity
            {
                startNext(of: id)
            }
        }
    }

    private func startNext(of id: ID<WebhookEndpoint>) {
        var next: Exchange.Ready?
        while next == nil, let ready = queues[id]?.queue.popFirst() {
            if Clock.monotonicNanos() <= ready.startBy { next = ready } else { expired.append(id) }
        }
        guard let ready = next else {
            if queues[id]?.inFlight == 0 { queues[id] = nil }
            return
        }
        queues[id]?.inFlight += 1
        let delivery = ready.delivery
        let started = Clock.monotonicNanos()
        transport.post(Self.request(for: delivery, body: ready.body, at: .now(), signature: &signature)) {
            [self] outcome in
            queues[id]?.inFlight -= 1
            if let endpoint = queues[id], endpoint.inFlight == 0, endpoint.queue.isEmpty { queues[id] = nil }
            finished.append(
                .init(
                    attempt: .init(delivery: delivery, at: .now(), outcome: outcome, schedule: settings.retrySchedule),
                    seconds: Double(Clock.monotonicNanos() - started) / 1e9))
        }
    }

    /// What a delivery posts: its event exactly as `GET /events/{id}` shows it. Written by
    /// the books thread when it claims the delivery, off the transfers' thread.
    static func body(of delivery: WebhookDeliveryStore.Claimed) -> [UInt8] {
        var json = JSONWriter(capacity: delivery.event.data.utf8.count + 160)
        delivery.event.write(to: &json)
        return json.bytes
    }

    /// The POST of one delivery, signed for an attempt made at `time`.
    static func request(
        for delivery: WebhookDeliveryStore.Claimed, body: [UInt8], at time: Timestamp,
        signature: inout WebhookSignature
    ) -> WebhookTransport.Request {
        WebhookTransport.Request(
            url: delivery.url,
            headers: [
                "Billing-Signature: " + signature.header(body: body, secrets: delivery.secrets, at: time),
                "Billing-Event-Id: \(delivery.event.id)", "Billing-Delivery-Id: \(delivery.id)",
            ], body: body)
    }

    /// One attempt of one delivery now, whatever its status (`POST
    /// /webhook-deliveries/{id}/retry`), in the caller's transaction: the delivery's row
    /// stays locked while it runs (at most 10 s). Answers the delivery after it.
    public static func attemptNow(
        _ id: ID<WebhookDelivery>, settings: WebhookSettings, on db: Connection
    ) throws -> WebhookDelivery {
        let delivery = try WebhookDeliveryStore.lockForRetry(id, now: .now(), on: db)
        let transport = WebhookTransport(allowPrivate: settings.allowPrivate)
        var outcome: WebhookDeliveryStore.Outcome?
        var signature = WebhookSignature()
        transport.post(request(for: delivery, body: body(of: delivery), at: .now(), signature: &signature)) {
            outcome = $0
        }
        while outcome == nil { transport.poll(millis: 100) }
        let attempt = WebhookDeliveryStore.Attempt(
            delivery: delivery, at: .now(), outcome: outcome!, schedule: settings.retrySchedule)
        try WebhookDeliveryStore.record(
            [attempt], disableAfter: settings.disableAfterSeconds, now: .now(), on: db)
        return try WebhookDeliveryStore.get(id, on: db)
    }
}
