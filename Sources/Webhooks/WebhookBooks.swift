import Billing
import Common
import Logging
import Postgres
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What the sender's two threads hand each other, under one lock.
final class Exchange: Sendable {
    struct Finished: Sendable {
        var attempt: WebhookDeliveryStore.Attempt
        /// How long the attempt took, from its start to its outcome.
        var seconds: Double
    }

    /// A claimed delivery with its body written.
    struct Ready: Sendable {
        var delivery: WebhookDeliveryStore.Claimed
        var body: [UInt8]
        /// The last moment (`Clock.monotonicNanos`) an attempt may start and still end
        /// within the lease: one started later could still run when another sender takes
        /// the delivery, so it is not started (the lease passes and it is claimed again).
        var startBy: Int64
    }

    struct State {
        /// Claimed by the books, not yet queued by the transfers.
        var claimed: [Ready] = []
        /// Outcomes not yet taken by the books.
        var finished: [Finished] = []
        /// The endpoints of deliveries not started because their lease could pass first,
        /// one entry each, not yet taken by the books.
        var expired: [ID<WebhookEndpoint>] = []
        /// Set once the transfers are over: what was queued and never started (released).
        var unsent: [ID<WebhookDelivery>]?
        /// The database error that stopped the books.
        var failure: (any Error)?
    }

    let state = Mutex(State())
}

/// The sender's database side, on a thread of its own: claims what the endpoints' queues
/// can take and records outcomes in batches (every 50 ms, or at 1,024), until the
/// transfers are over; then records the last outcomes and releases what was never sent.
struct WebhookBooks: Sendable {
    let conninfo: String
    let settings: WebhookSettings
    let logger: Logger
    let perEndpoint: Int
    let exchange: Exchange
    let waker: WebhookTransport.Waker

    /// One endpoint as the books see it.
    private struct Load {
        /// Claimed and not yet finished: queued, in flight, or handed over.
        var outstanding = 0
        /// Seconds an attempt takes, a moving average; an endpoint not yet heard from is
        /// assumed as slow as an attempt may be, so that the first claims stay within the
        /// lease (a few attempts bring a fast endpoint's down).
        var seconds = Double(WebhookTransport.attemptMillis) / 1000
        /// The last claim found fewer due deliveries than it asked for: ask again only with
        /// the periodic claim, not as soon as the queue runs low.
        var drained = false
    }

    func keep() {
        do {
            try run()
        } catch {
            exchange.state.withLock { $0.failure = error }
            waker.wake()
        }
    }

    private static func millis() -> Int64 { Clock.monotonicNanos() / 1_000_000 }

    /// How many deliveries an endpoint may hold: what it starts at its pace in half the time a
    /// claimed delivery may still be started (the lease less an attempt), between
    /// `perEndpoint` and 4,000.
    private func holding(_ load: Load) -> Int {
        let window = Double(settings.leaseSeconds * 1000 - WebhookTransport.attemptMillis) / 1000 / 2
        let sendable = Double(perEndpoint) * window / max(load.seconds, 0.001)
        return max(perEndpoint, min(4_000, Int(sendable)))
    }

    /// Claims early (half its holding left beyond what is in flight) so that a fast
    /// endpoint's queue never runs dry while a claim is on its way.
    private func hungry(_ load: Load) -> Bool {
        !load.drained && load.outstanding < perEndpoint + holding(load) / 2
    }

    private func run() throws {
        let db = try Connection(conninfo: conninfo)
        var loads: [ID<WebhookEndpoint>: Load] = [:]
        var unrecorded: [WebhookDeliveryStore.Attempt] = []
        var lastClaim: Int64 = 0
        var lastRecord = Self.millis()
        while true {
            let (finished, expired, unsent, unqueued) = exchange.state.withLock { state in
                defer {
                    state.finished.removeAll(keepingCapacity: true)
                    state.expired.removeAll(keepingCapacity: true)
                }
                return (state.finished, state.expired, state.unsent, state.unsent == nil ? [] : state.claimed)
            }
            for endpoint in expired { loads[endpoint, default: Load()].outstanding -= 1 }
            for outcome in finished {
                let endpoint = outcome.attempt.delivery.endpointID
                loads[endpoint, default: Load()].outstanding -= 1
                loads[endpoint]!.seconds = 0.9 * loads[endpoint]!.seconds + 0.1 * outcome.seconds
                unrecorded.append(outcome.attempt)
            }
            var busy = false
            let now = Self.millis()
            if unrecorded.count >= 1024 || (!unrecorded.isEmpty && now - lastRecord >= 50) || unsent != nil {
                try record(unrecorded, on: db)
                unrecorded.removeAll(keepingCapacity: true)
                lastRecord = now
                busy = true
            }
            if let unsent {
                // What was claimed and not sent goes back at once, not when its lease passes.
                try WebhookDeliveryStore.release(unsent + unqueued.map(\.delivery.id), on: db)
                return
            }
            if now - lastClaim >= 100 || loads.values.contains(where: hungry) {
                let periodic = now - lastClaim >= 100
                let wanted = loads.map { id, load in
                    (endpoint: id, count: periodic || hungry(load) ? holding(load) - load.outstanding : 0)
                }
                let startBy =
                    Clock.monotonicNanos()
                    + Int64(settings.leaseSeconds * 1000 - WebhookTransport.attemptMillis) * 1_000_000
                let claimed = try WebhookDeliveryStore.claim(
                    limit: 10_000, wanted: wanted, fresh: perEndpoint, lease: settings.leaseSeconds, now: .now(), on: db
                )
                var got: [ID<WebhookEndpoint>: Int] = [:]
                for delivery in claimed { got[delivery.endpointID, default: 0] += 1 }
                for (endpoint, count) in wanted where count > 0 {
                    loads[endpoint]?.drained = got[endpoint, default: 0] < count
                }
                for (endpoint, count) in got { loads[endpoint, default: Load()].outstanding += count }
                // An endpoint with nothing outstanding is asked for as a new one (`fresh`):
                // endpoints that were deleted or went quiet are not carried forever.
                if periodic { loads = loads.filter { $0.value.outstanding > 0 } }
                if !claimed.isEmpty {
                    let ready = claimed.map {
                        Exchange.Ready(delivery: $0, body: WebhookSender.body(of: $0), startBy: startBy)
                    }
                    exchange.state.withLock { $0.claimed.append(contentsOf: ready) }
                    waker.wake()
                    busy = true
                }
                if periodic { lastClaim = now }
            }
            if !busy { usleep(5_000) }
        }
    }

    private func record(_ attempts: [WebhookDeliveryStore.Attempt], on db: Connection) throws {
        guard !attempts.isEmpty else { return }
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
}
