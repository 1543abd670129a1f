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
        var unsent: [WebhookDeliveryStore.Claimed]?
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
        /// Seconds an attempt takes, a moving average from the first attempt heard of; an
        /// endpoint not yet heard from is assumed as slow as an attempt may be, so that its
        /// first claim stays within the lease.
        var seconds = Double(WebhookTransport.attemptMillis) / 1000
        var heardFrom = false
        /// The last claim found fewer due deliveries than it asked for: ask again only with
        /// the periodic claim, not as soon as the queue runs low.
        var drained = false
        /// Where its next claim starts: past the last delivery claimed for it while any are
        /// outstanding, a little before it once none is (`settle`; see `fromFirstMillis`
        /// for what a claim from here would miss).
        var after: WebhookDeliveryStore.Position?
        /// When deliveries were last claimed for it (`millis()`).
        var lastClaimed: Int64 = 0

        /// The first attempt sets the pace outright: averaged in from the 10 s assumed, a
        /// fast endpoint's first hundred attempts were claimed a few dozen at a time.
        mutating func observe(_ attemptSeconds: Double) {
            seconds = heardFrom ? 0.9 * seconds + 0.1 * attemptSeconds : attemptSeconds
            heardFrom = true
        }

        /// One claimed delivery is over (attempted, or dropped unstarted). With none left,
        /// the next claims start `lateCommitMicros` before the last claimed one's due time,
        /// not from the first: they still find the deliveries of a transaction that began a
        /// little earlier and committed later, and when there is nothing to find they do not
        /// walk the index's entries of every delivery already made (measured: 2–5 ms a claim
        /// from the first after a few bursts of 20,000).
        mutating func settle() {
            outstanding -= 1
            guard outstanding == 0, let last = after else { return }
            after = .init(dueMicros: last.dueMicros - WebhookBooks.lateCommitMicros, eventSeq: 0)
        }
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

    /// How often the books look for new deliveries when no endpoint is running low.
    static let claimMillis: Int64 = 100
    /// Claims start past each endpoint's last claimed delivery, but once in this long from
    /// its first due one: deliveries before that position may be due again (released by a
    /// sender that stopped, their lease passed, written by a transaction that committed
    /// late), and this bounds how long they wait.
    static let fromFirstMillis: Int64 = 1_000
    /// How far before its last claimed delivery an idle endpoint's claims start (`settle`).
    static let lateCommitMicros: Int64 = 100_000
    /// An endpoint not claimed for in this long is forgotten (deleted, or quiet): its
    /// deliveries are then claimed from the first, as a new endpoint's.
    static let forgetMillis: Int64 = 60_000

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
        // The claims' and records' commits do not wait for the disk. What a crash of the
        // machine can lose is their last fraction of a second: an outcome then unrecorded is
        // sent again, a lease then lost lets another sender send it again: at least once,
        // as promised. Their flushes no longer queue beside the write path's commits, which
        // wait for the disk while they hold the invoice counter.
        try db.query("SET synchronous_commit = off")
        // Every statement here reads a handful of rows by key (an index, the row addresses
        // the claim locked): a sequential scan is never the plan. On tables whose statistics
        // are still empty (a new database's first burst) the planner took one, and read the
        // whole table for every claim (measured: 2,000 deliveries/s against 20,000).
        try db.query("SET enable_seqscan = off")
        var loads: [ID<WebhookEndpoint>: Load] = [:]
        var unrecorded: [WebhookDeliveryStore.Attempt] = []
        var lastClaim: Int64 = 0
        var lastFromFirst: Int64 = 0
        var lastRecord = Self.millis()
        while true {
            let (finished, expired, unsent, unqueued) = exchange.state.withLock { state in
                defer {
                    state.finished.removeAll(keepingCapacity: true)
                    state.expired.removeAll(keepingCapacity: true)
                }
                return (state.finished, state.expired, state.unsent, state.unsent == nil ? [] : state.claimed)
            }
            for endpoint in expired { loads[endpoint, default: Load()].settle() }
            for outcome in finished {
                let endpoint = outcome.attempt.delivery.endpointID
                loads[endpoint, default: Load()].settle()
                loads[endpoint]!.observe(outcome.seconds)
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
                try WebhookDeliveryStore.release(unsent + unqueued.map(\.delivery), on: db)
                return
            }
            if now - lastClaim >= Self.claimMillis || loads.values.contains(where: hungry) {
                let periodic = now - lastClaim >= Self.claimMillis
                let fromFirst = periodic && now - lastFromFirst >= Self.fromFirstMillis
                if fromFirst { lastFromFirst = now }
                let wanted = loads.map { id, load in
                    WebhookDeliveryStore.Wanted(
                        endpoint: id, count: periodic || hungry(load) ? holding(load) - load.outstanding : 0,
                        after: fromFirst ? nil : load.after)
                }
                let startBy =
                    Clock.monotonicNanos()
                    + Int64(settings.leaseSeconds * 1000 - WebhookTransport.attemptMillis) * 1_000_000
                let claimed = try WebhookDeliveryStore.claim(
                    limit: 10_000, wanted: wanted, fresh: perEndpoint, lease: settings.leaseSeconds, now: .now(), on: db
                )
                // Each endpoint's share of the claim: how many, and the last one's position.
                var got: [ID<WebhookEndpoint>: (count: Int, last: WebhookDeliveryStore.Position)] = [:]
                for delivery in claimed {
                    let last = got[delivery.endpointID].map { max($0.last, delivery.position) } ?? delivery.position
                    got[delivery.endpointID] = ((got[delivery.endpointID]?.count ?? 0) + 1, last)
                }
                for wanted in wanted where wanted.count > 0 {
                    loads[wanted.endpoint]?.drained = (got[wanted.endpoint]?.count ?? 0) < wanted.count
                }
                for (endpoint, share) in got {
                    loads[endpoint, default: Load()].outstanding += share.count
                    loads[endpoint]!.lastClaimed = now
                    loads[endpoint]!.after = max(loads[endpoint]!.after ?? share.last, share.last)
                }
                // Endpoints that were deleted or went quiet are not carried forever.
                if periodic {
                    loads = loads.filter { $0.value.outstanding > 0 || now - $0.value.lastClaimed < Self.forgetMillis }
                }
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
