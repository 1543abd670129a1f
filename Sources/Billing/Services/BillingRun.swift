import Common
import Postgres

/// The billing run: renewals (every missed period, in order), trial ends, cancels at
/// period end, then dunning, all up to `asOf`.
///
/// It works in batches, each its own transaction that locks its subscriptions with
/// `FOR UPDATE SKIP LOCKED`: any number of runs on any number of hosts share the work
/// without waiting for each other, a killed run loses only its open batch, and the unique
/// index on (subscription, period start) makes a second invoice for a period impossible.
public enum BillingRun {
    public struct Summary: Equatable, Sendable, JSONWritable {
        public var asOf: Timestamp
        public var invoicesCreated = 0
        public var subscriptionsRenewed = 0
        public var trialsEnded = 0
        public var subscriptionsCanceled = 0
        public var markedPastDue = 0

        public init(asOf: Timestamp) { self.asOf = asOf }

        /// Adds the counts of another run over the same `asOf` (runs working in parallel).
        public mutating func add(_ other: Summary) {
            invoicesCreated += other.invoicesCreated
            subscriptionsRenewed += other.subscriptionsRenewed
            trialsEnded += other.trialsEnded
            subscriptionsCanceled += other.subscriptionsCanceled
            markedPastDue += other.markedPastDue
        }

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("as_of", asOf)
            json.field("invoices_created", invoicesCreated)
            json.field("subscriptions_renewed", subscriptionsRenewed)
            json.field("trials_ended", trialsEnded)
            json.field("subscriptions_canceled", subscriptionsCanceled)
            json.field("marked_past_due", markedPastDue)
            json.endObject()
        }
    }

    public static let defaultBatchSize = 500

    public static func run(
        asOf: Timestamp, config: BillingConfig, batchSize: Int = defaultBatchSize, on db: Connection
    ) throws -> Summary {
        var summary = Summary(asOf: asOf)
        while try db.transaction({
            try renewBatch(asOf: asOf, config: config, limit: batchSize, summary: &summary, on: db)
        }) > 0 {}
        while try db.transaction({
            try dunningBatch(asOf: asOf, config: config, limit: batchSize, summary: &summary, on: db)
        }) > 0 {}
        return summary
    }

    /// Renews up to `limit` due subscriptions; returns how many it locked.
    static func renewBatch(
        asOf: Timestamp, config: BillingConfig, limit: Int, summary: inout Summary, on db: Connection
    ) throws -> Int {
        let rows = try db.query(
            """
            SELECT \(unsafeSQL: Subscription.qualifiedColumns), p.amount_cents, p.interval, p.interval_count, p.name, \
            p.currency FROM subscriptions s JOIN plans p ON p.id = s.plan_id \
            WHERE s.status <> 'canceled' AND s.current_period_end <= \(asOf) \
            ORDER BY s.current_period_end LIMIT \(limit) FOR UPDATE OF s SKIP LOCKED
            """
        ).rows
        guard !rows.isEmpty else { return 0 }
        let now = Timestamp.now()
        var drafts: [InvoiceWriter.Draft] = []
        var changed: [(Subscription, Renewal)] = []
        for row in rows {
            let subscription = Subscription(row: row)
            let base = Subscription.columnCount
            let amount = row.required(row.int64(base), column: base)
            let interval = BillingInterval(
                unit: row.required(
                    row.string(base + 1).flatMap(BillingInterval.Unit.init(rawValue:)), column: base + 1),
                count: row.required(row.int(base + 2), column: base + 2))
            let planName = row.string(base + 3) ?? ""
            let currency = row.string(base + 4) ?? ""
            let renewal = Renewal(
                status: subscription.status, anchor: subscription.billingCycleAnchor, interval: interval,
                trialEnd: subscription.trialEnd, currentPeriodStart: subscription.currentPeriodStart,
                currentPeriodEnd: subscription.currentPeriodEnd, cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
                asOf: asOf)
            guard renewal.changesSomething else { continue }
            changed.append((subscription, renewal))
            for period in renewal.invoices {
                drafts.append(
                    .init(
                        subscriptionID: subscription.id, customerID: subscription.customerID,
                        reason: "subscription_cycle", currency: currency, periodStart: period.start,
                        periodEnd: period.end,
                        lines: [
                            .init(
                                kind: .subscription, description: "\(planName) (every \(interval.phrase))",
                                amount: amount, start: period.start, end: period.end)
                        ]))
            }
        }
        // The invoice-number counter is taken last: its row lock, which serializes every
        // transaction that makes invoices (the price of gapless numbers), is held only for
        // the invoice writes themselves.
        try SubscriptionService.saveRenewals(changed, now: now, on: db)
        if !drafts.isEmpty {
            var balances = try CustomerService.lockBalances(Array(Set(drafts.map(\.customerID))), on: db)
            let before = balances
            let invoices = try InvoiceWriter.write(drafts, balances: &balances, now: now, config: config, on: db)
            summary.invoicesCreated += invoices.count
            try CustomerService.saveBalances(balances.filter { before[$0.key] != $0.value }, now: now, on: db)
        }
        for (_, renewal) in changed {
            if renewal.trialEnded { summary.trialsEnded += 1 }
            if renewal.endedAt != nil { summary.subscriptionsCanceled += 1 }
            if !renewal.invoices.isEmpty { summary.subscriptionsRenewed += 1 }
        }
        return rows.count
    }

    /// Applies dunning to up to `limit` subscriptions with overdue open invoices; returns
    /// how many it changed.
    static func dunningBatch(
        asOf: Timestamp, config: BillingConfig, limit: Int, summary: inout Summary, on db: Connection
    ) throws -> Int {
        let graceCutoff = asOf.adding(seconds: -Int64(config.dunningGraceDays) * 86_400)
        let rows = try db.query(
            """
            SELECT \(unsafeSQL: Subscription.qualifiedColumns), d.oldest_due FROM subscriptions s \
            JOIN (SELECT subscription_id, min(due_at) AS oldest_due FROM invoices \
                  WHERE status = 'open' AND due_at <= \(asOf) GROUP BY subscription_id) d ON d.subscription_id = s.id \
            WHERE s.status = 'active' OR (s.status = 'past_due' AND d.oldest_due <= \(graceCutoff)) \
            LIMIT \(limit) FOR UPDATE OF s SKIP LOCKED
            """
        ).rows
        var pastDue: [Subscription] = []
        var canceled: [Subscription] = []
        for row in rows {
            let subscription = Subscription(row: row)
            let oldestDue = row.required(row.timestamp(Subscription.columnCount), column: Subscription.columnCount)
            switch Dunning.decide(
                status: subscription.status, oldestDue: oldestDue, asOf: asOf, graceDays: config.dunningGraceDays)
            {
            case .markPastDue: pastDue.append(subscription)
            case .cancelForNonpayment: canceled.append(subscription)
            case .none: break
            }
        }
        let now = Timestamp.now()
        try SubscriptionService.markPastDue(pastDue.map(\.id), now: now, on: db)
        try SubscriptionService.cancelForNonpayment(canceled.map(\.id), at: asOf, now: now, on: db)
        try InvoiceService.markUncollectible(
            subscriptions: canceled.map(\.id), dueBefore: graceCutoff, at: asOf, now: now, on: db)
        summary.markedPastDue += pastDue.count
        summary.subscriptionsCanceled += canceled.count
        return pastDue.count + canceled.count
    }
}
