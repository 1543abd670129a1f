import Billing
import Common
import Logging
import Postgres

/// Delivers what the events' trigger queued (`webhooks.md`): claims due deliveries under a
/// lease (`FOR UPDATE SKIP LOCKED`, so that any number of senders share them and none is
/// sent by two at once), posts them through one `WebhookTransport`, and records the
/// outcomes in batches with their next attempts. Each endpoint has at most `perEndpoint`
/// requests in flight and a queue of claimed deliveries behind them, as long as it can
/// send well within the lease (measured: a fast endpoint keeps 2,000 queued, one that
/// takes 10 s an answer a few dozen), so a fast endpoint is not held to one database
/// round trip per handful of deliveries and a slow one never holds up the others.
public final class WebhookSender {
    /// One endpoint's claimed deliveries, those in flight, and how long its attempts take.
    private struct Endpoint {
        var queue: [WebhookDeliveryStore.Claimed] = []
        var queued = 0
        var inFlight = 0
        /// Seconds an attempt takes, a moving average.
        var seconds = 0.05
    }

    private let conninfo: String
    private let settings: WebhookSettings
    private let logger: Logger
    private let capacity: Int
    private let perEndpoint: Int
    private let transport: WebhookTransport
    private var endpoints: [ID<WebhookEndpoint>: Endpoint] = [:]
    private var finished: [WebhookDeliveryStore.Attempt] = []

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

    /// How many deliveries an endpoint may hold, queued and in flight: what it sends in half
    /// a lease at its pace, between `perEndpoint` and 2,000.
    private func holding(_ endpoint: Endpoint) -> Int {
        let sendable = Double(perEndpoint) * Double(settings.leaseSeconds) / 2 / max(endpoint.seconds, 0.001)
        return max(perEndpoint, min(2_000, Int(sendable)))
    }

    /// Runs until `stopping()` is true, then lets what is in flight finish (each attempt
    /// takes at most 10 s), records it and releases what was queued. A database error ends
    /// the run (the pool starts the sender again); then what it held is taken again when
    /// its lease passes.
    public func run(stopping: () -> Bool) throws {
        let db = try Connection(conninfo: conninfo)
        var lastClaimMillis: Int64 = 0
        var lastRecordMillis: Int64 = 0
        while !stopping() {
            let millis = Self.monotonicMillis()
            // Every database round trip stalls the transfers on this thread: claim in large
            // batches, when an endpoint's queue is nearly empty (or every 100 ms for new work).
            let hungry = endpoints.values.contains { $0.queued < 4 * perEndpoint && $0.queued < holding($0) / 2 }
            if endpoints.isEmpty || hungry || millis - lastClaimMillis >= 100 {
                let wanted = endpoints.map {
                    (endpoint: $0.key, count: holding($0.value) - $0.value.queued - $0.value.inFlight)
                }
                let claimed = try WebhookDeliveryStore.claim(
                    limit: 10_000, wanted: wanted, fresh: 4 * perEndpoint, lease: settings.leaseSeconds, now: .now(),
                    on: db)
                for delivery in claimed {
                    endpoints[delivery.endpointID, default: Endpoint()].queue.append(delivery)
                    endpoints[delivery.endpointID, default: Endpoint()].queued += 1
                }
                lastClaimMillis = millis
            }
            startQueued()
            let busy = endpoints.values.contains { $0.inFlight > 0 || $0.queued > 0 }
            transport.poll(millis: busy ? 5 : 100)
            startQueued()
            // Sends what was just started before any database round trip below stalls it.
            transport.poll(millis: 0)
            if finished.count >= 1024 || (!finished.isEmpty && Self.monotonicMillis() - lastRecordMillis >= 50) {
                try recordFinished(on: db)
                lastRecordMillis = Self.monotonicMillis()
            }
        }
        while transport.inFlight > 0 { transport.poll(millis: 100) }
        try recordFinished(on: db)
        // What was claimed and not sent goes back at once, not when its lease passes.
        let queued = endpoints.values.flatMap { $0.queue.suffix($0.queued).map(\.id) }
        try WebhookDeliveryStore.release(queued, on: db)
    }

    private static func monotonicMillis() -> Int64 { Clock.monotonicNanos() / 1_000_000 }

    /// Starts queued deliveries, each endpoint's in order, up to its cap and the transport's:
    /// first one for every endpoint with nothing in flight, so that endpoints that hold their
    /// slots (slow or dead ones) never leave another with none.
    private func startQueued() {
        for (id, endpoint) in endpoints where endpoint.inFlight == 0 && endpoint.queued > 0 {
            startNext(of: id)
        }
        for id in Array(endpoints.keys) {
            while let endpoint = endpoints[id], endpoint.inFlight < perEndpoint, endpoint.queued > 0,
                transport.inFlight < capacity
            {
                startNext(of: id)
            }
        }
    }

    private func startNext(of id: ID<WebhookEndpoint>) {
        guard let endpoint = endpoints[id], endpoint.queued > 0 else { return }
        let delivery = endpoint.queue[endpoint.queue.count - endpoint.queued]
        endpoints[id]?.queued -= 1
        if endpoints[id]?.queued == 0 { endpoints[id]?.queue.removeAll(keepingCapacity: true) }
        start(delivery)
    }

    private func start(_ delivery: WebhookDeliveryStore.Claimed) {
        endpoints[delivery.endpointID, default: Endpoint()].inFlight += 1
        let started = Self.monotonicMillis()
        transport.post(Self.request(for: delivery, at: .now())) { [self] outcome in
            let seconds = Double(Self.monotonicMillis() - started) / 1000
            endpoints[delivery.endpointID, default: Endpoint()].inFlight -= 1
            endpoints[delivery.endpointID, default: Endpoint()].seconds =
                0.9 * (endpoints[delivery.endpointID]?.seconds ?? seconds) + 0.1 * seconds
            finished.append(
                .init(delivery: delivery, at: .now(), outcome: outcome, schedule: settings.retrySchedule))
        }
    }

    private func recordFinished(on db: Connection) throws {
        guard !finished.isEmpty else { return }
        let attempts = finished
        finished = []
        try db.transaction {
            try WebhookDeliveryStore.record(
                attempts, disableAfter: settings.disableAfterSeconds, now: .now(), on: db)
        }
        for attempt in attempts where !attempt.outcome.succeeded {
            logger.info(
                "webhook attempt failed",
                metadata: [
                    "delivery": "\(attempt.delivery.id)", "endpoint": "\(attempt.delivery.endpointID)",
                    "status": "\(attempt.outcome.status.map(String.init) ?? "-")",
                    "error": "\(attempt.outcome.error ?? "-")",
                ])
        }
    }

    /// The POST of one delivery: the event exactly as `GET /events/{id}` shows it, signed.
    static func request(for delivery: WebhookDeliveryStore.Claimed, at time: Timestamp) -> WebhookTransport.Request {
        var json = JSONWriter(capacity: delivery.event.data.utf8.count + 160)
        delivery.event.write(to: &json)
        let body = json.bytes
        return WebhookTransport.Request(
            url: delivery.url,
            headers: [
                "Billing-Signature: " + WebhookSignature.header(body: body, secrets: delivery.secrets, at: time),
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
        transport.post(request(for: delivery, at: .now())) { outcome = $0 }
        while outcome == nil { transport.poll(millis: 100) }
        let attempt = WebhookDeliveryStore.Attempt(
            delivery: delivery, at: .now(), outcome: outcome!, schedule: settings.retrySchedule)
        try WebhookDeliveryStore.record(
            [attempt], disableAfter: settings.disableAfterSeconds, now: .now(), on: db)
        return try WebhookDeliveryStore.get(id, on: db)
    }
}
