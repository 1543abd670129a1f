import Billing
import Common
import Logging
import Postgres

/// Delivers what the events' trigger queued (`webhooks.md`): claims due deliveries under a
/// lease (`FOR UPDATE SKIP LOCKED`, so that any number of senders share them and none is
/// sent by two at once), posts them all at once through one `WebhookTransport`, and records
/// each outcome with its next attempt. A slow endpoint holds at most `perEndpoint`
/// requests in flight; the others' deliveries go on beside it.
public final class WebhookSender {
    private let conninfo: String
    private let settings: WebhookSettings
    private let logger: Logger
    private let capacity: Int
    private let perEndpoint: Int
    private let transport: WebhookTransport
    private var inFlight: [ID<WebhookEndpoint>: Int] = [:]
    private var finished: [WebhookDeliveryStore.Attempt] = []

    public init(
        conninfo: String, settings: WebhookSettings, logger: Logger, capacity: Int = 256, perEndpoint: Int = 16
    ) {
        self.conninfo = conninfo
        self.settings = settings
        self.logger = logger
        self.capacity = capacity
        self.perEndpoint = perEndpoint
        transport = WebhookTransport(allowPrivate: settings.allowPrivate)
    }

    /// Runs until `stopping()` is true, then lets what is in flight finish (each attempt
    /// takes at most 10 s) and records it. A database error ends the run (the pool starts
    /// the sender again): what it had claimed is taken again once the lease has passed.
    public func run(stopping: () -> Bool) throws {
        let db = try Connection(conninfo: conninfo)
        while !stopping() {
            var claimedAll = false
            if transport.inFlight < capacity {
                let room = capacity - transport.inFlight
                let claimed = try WebhookDeliveryStore.claim(
                    limit: room, perEndpoint: perEndpoint, busy: inFlight.map { ($0.key, $0.value) },
                    lease: settings.leaseSeconds, now: .now(), on: db)
                claimedAll = claimed.count == room
                for delivery in claimed { start(delivery) }
            }
            // Idle: wait for answers, or 100 ms before looking for new deliveries.
            transport.poll(millis: claimedAll ? 0 : 100)
            try recordFinished(on: db)
        }
        while transport.inFlight > 0 { transport.poll(millis: 100) }
        try recordFinished(on: db)
    }

    private func start(_ delivery: WebhookDeliveryStore.Claimed) {
        inFlight[delivery.endpointID, default: 0] += 1
        let request = Self.request(for: delivery, at: .now())
        transport.post(request) { [self] outcome in
            inFlight[delivery.endpointID, default: 1] -= 1
            if inFlight[delivery.endpointID] == 0 { inFlight[delivery.endpointID] = nil }
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
