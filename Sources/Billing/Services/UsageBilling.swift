import Common
import Postgres

/// Usage billed in arrears (`usage.md`). A subscription counts usage in a window, from its
/// period's start (or its last plan change) to its end. A window closes when the billing
/// run renews the subscription (its usage goes on that cycle's invoice, a draft until
/// `USAGE_GRACE_SECONDS` later), when the subscription ends or when its plan changes (a
/// usage-only draft each). Once the grace has passed the run prices the window's totals —
/// the code `GET /subscriptions/{id}/usage` runs too — adds the lines and finalizes the draft.
public enum UsageBilling {
    /// A closed window waiting for its draft's grace to pass.
    struct Window {
        var customerID: ID<Customer>
        var subscriptionID: ID<Subscription>
        var start: Timestamp
        var end: Timestamp
        var planID: ID<Plan>
        var invoiceID: ID<Invoice>?
        var closesAt: Timestamp
    }

    /// The usage of a subscription's current window, as it would be billed now.
    public struct Current: Sendable, JSONWritable {
        public struct Charge: Sendable {
            public var meterID: ID<Meter>
            public var meterCode: String
            public var quantity: ExactDecimal
            public var amountCents: Int64
        }
        public var periodStart: Timestamp
        public var periodEnd: Timestamp
        public var charges: [Charge]
        public var amountCents: Int64 { charges.reduce(0) { $0 + $1.amountCents } }

        public func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("period_start", periodStart)
            json.field("period_end", periodEnd)
            json.key("charges")
            json.beginArray()
            for charge in charges {
                json.beginObject()
                json.field("meter_id", charge.meterID)
                json.field("meter_code", charge.meterCode)
                json.field("quantity", charge.quantity.description)
                json.field("amount_cents", charge.amountCents)
                json.endObject()
            }
            json.endArray()
            json.field("amount_cents", amountCents)
            json.endObject()
        }
    }

    // MARK: Pricing windows

    /// The usage lines of each window, one per charge of its plan, in the plan's order.
    static func lines(of windows: [Window], on db: Connection) throws -> [[PricedLine]] {
        guard !windows.isEmpty else { return [] }
        var plans: [ID<Plan>: [UsageCharge]] = [:]
        for plan in Set(windows.map(\.planID)) { plans[plan] = try UsageCatalog.charges(of: plan, on: db) }
        // A plan without charges (the upcoming invoice of most subscriptions) reads nothing more.
        guard plans.values.contains(where: { !$0.isEmpty }) else { return windows.map { _ in [] } }
        let meters = try MeterService.byID(Array(Set(plans.values.flatMap { $0.map(\.meterID) })), on: db)
        let totals = try self.totals(of: windows, on: db)
        return try windows.map { window in
            try price(window, charges: plans[window.planID] ?? [], meters: meters) {
                totals[TotalsKey(window.subscriptionID, window.start, $0)]
            }
        }
    }

    /// The one pricing of a window, for the run and for current usage alike: a line per
    /// charge, in the plan's order, its meter's quantity from `totals` (none: no events, 0).
    static func price(
        _ window: Window, charges: [UsageCharge], meters: [ID<Meter>: Meter], totals: (ID<Meter>) -> Totals?
    ) throws -> [PricedLine] {
        try charges.map { charge in
            guard let meter = meters[charge.meterID] else { throw StoredDataError("a charge's meter") }
            let quantity = totals(meter.id)?.quantity(meter) ?? .zero
            guard let amount = charge.amount(for: quantity) else {
                throw BillingError.invalid(
                    field: "usage", message: "the usage of the meter \(meter.code) prices past a line's limit (10^12)")
            }
            return PricedLine(
                kind: .usage, description: meter.name, amount: amount, quantity: 1, unitAmount: nil,
                start: window.start, end: window.end, usage: UsageQuantity(meterID: meter.id, quantity: quantity))
        }
    }

    /// The usage of the subscription's current window, priced exactly as the run will: one
    /// statement reads the subscription and its window's totals (a point read per meter,
    /// whatever the number of events); the plan's charges and meters come from the catalog.
    public static func current(_ id: ID<Subscription>, on db: Connection) throws -> Current {
        let rows = try db.query(
            """
            SELECT s.customer_id, s.status, coalesce(s.usage_window_start, s.current_period_start), \
            s.current_period_end, s.ended_at, s.plan_id, t.meter_id, \(unsafeSQL: Totals.columns) \
            FROM subscriptions s LEFT JOIN usage_totals t ON t.customer_id = s.customer_id \
            AND t.subscription_id = s.id AND t.window_start = coalesce(s.usage_window_start, s.current_period_start) \
            WHERE s.id = \(id)
            """
        ).rows
        guard let first = rows.first else { throw BillingError.notFound("no such subscription") }
        var r = RowReader(first)
        let customer: ID<Customer> = try r.id()
        let status: Subscription.Status = try r.value()
        let (start, end, endedAt) = (try r.timestamp(), try r.timestamp(), r.optionalTimestamp())
        let window = Window(
            customerID: customer, subscriptionID: id, start: start, end: end, planID: try r.id(), invoiceID: nil,
            closesAt: end)
        var totals: [ID<Meter>: Totals] = [:]
        for row in rows where !row.isNull(6) {
            var r = RowReader(row)
            r.column = 6
            totals[try r.id()] = try Totals(&r)
        }
        // An ended subscription has no current usage: its last window is on its final invoice.
        let charges = status == .canceled ? [] : try UsageCatalog.charges(of: window.planID, on: db)
        let meters = try UsageCatalog.meters(charges.map(\.meterID), on: db)
        let lines = try price(window, charges: charges, meters: meters) { totals[$0] }
        return Current(
            periodStart: start, periodEnd: endedAt ?? end,
            charges: try lines.map { line in
                guard let usage = line.usage, let meter = meters[usage.meterID] else {
                    throw StoredDataError("a usage line")
                }
                return Current.Charge(
                    meterID: usage.meterID, meterCode: meter.code, quantity: usage.quantity, amountCents: line.amount)
            })
    }

    /// The usage lines of the subscription's current window as they stand (none once it
    /// ended: its last window is on its final invoice).
    static func linesOfCurrentWindow(_ subscription: Subscription, on db: Connection) throws -> [PricedLine] {
        guard subscription.status != .canceled else { return [] }
        let window = Window(
            customerID: subscription.customerID, subscriptionID: subscription.id, start: subscription.usageWindowStart,
            end: subscription.currentPeriodEnd, planID: subscription.planID, invoiceID: nil,
            closesAt: subscription.currentPeriodEnd)
        return try lines(of: [window], on: db)[0]
    }

    struct TotalsKey: Hashable {
        var subscription: ID<Subscription>
        var start: Timestamp
        var meter: ID<Meter>
        init(_ subscription: ID<Subscription>, _ start: Timestamp, _ meter: ID<Meter>) {
            self.subscription = subscription
            self.start = start
            self.meter = meter
        }
    }

    /// A window's running totals for one meter.
    struct Totals {
        var count: Int64
        var sum: ExactDecimal
        var max: ExactDecimal
        var latest: ExactDecimal
        var unique: Int64

        /// The columns of `usage_totals t`, each 0 when there is no row (no event yet).
        static let columns = """
            coalesce(t.event_count, 0), coalesce(t.value_sum, 0)::text, coalesce(t.value_max, 0)::text, \
            coalesce(t.latest_value, 0)::text, coalesce(t.unique_count, 0)
            """

        init(_ r: inout RowReader) throws {
            count = try r.int64()
            func decimal() throws -> ExactDecimal {
                guard let value = ExactDecimal(parsing: try r.string()) else { throw StoredDataError("usage totals") }
                return value
            }
            (sum, max, latest) = (try decimal(), try decimal(), try decimal())
            unique = try r.int64()
        }

        /// What the meter aggregates; with no events every aggregation is 0.
        func quantity(_ meter: Meter) -> ExactDecimal {
            switch meter.aggregation {
            case .count: ExactDecimal(count)
            case .sum: sum
            case .max: max
            case .latest: latest
            case .uniqueCount: ExactDecimal(unique)
            }
        }
    }

    /// The totals of the windows, point reads by key in one statement.
    private static func totals(of windows: [Window], on db: Connection) throws -> [TotalsKey: Totals] {
        var totals: [TotalsKey: Totals] = [:]
        for row in try db.query(
            """
            SELECT t.subscription_id, t.window_start, t.meter_id, \(unsafeSQL: Totals.columns) FROM usage_totals t \
            JOIN unnest(\(SQLArray(windows) { $0.customerID })::uuid[], \(SQLArray(windows) { $0.subscriptionID })::uuid[], \
            \(SQLArray(windows) { $0.start })::timestamptz[]) AS w(customer_id, subscription_id, window_start) \
            ON t.customer_id = w.customer_id AND t.subscription_id = w.subscription_id AND t.window_start = w.window_start
            """
        ).rows {
            var r = RowReader(row)
            totals[TotalsKey(try r.id(), try r.timestamp(), try r.id())] = try Totals(&r)
        }
        return totals
    }

    // MARK: Closing windows

    /// Stores closed windows (their drafts written in the same transaction).
    static func record(_ windows: [Window], on db: Connection) throws {
        guard !windows.isEmpty else { return }
        try db.query(
            """
            INSERT INTO usage_windows (customer_id, subscription_id, window_start, window_end, plan_id, invoice_id, \
            closes_at) SELECT * FROM unnest(\(SQLArray(windows) { $0.customerID })::uuid[], \
            \(SQLArray(windows) { $0.subscriptionID })::uuid[], \(SQLArray(windows) { $0.start })::timestamptz[], \
            \(SQLArray(windows) { $0.end })::timestamptz[], \(SQLArray(windows) { $0.planID })::uuid[], \
            \(SQLArray(windows) { $0.invoiceID })::uuid[], \(SQLArray(windows) { $0.closesAt })::timestamptz[])
            """)
    }

    /// Closes the current window of each locked subscription at its instant (it ends, or
    /// changes plan there): each whose plan charges usage gets a usage-only draft for
    /// `[window start, end)`, finalized `USAGE_GRACE_SECONDS` later. Call it before the plan
    /// changes; the caller moves the window's start (or ends the subscription).
    static func closeCurrent(
        _ closing: [(ID<Subscription>, Timestamp)], events: inout EventLog.Pending, now: Timestamp,
        config: BillingConfig, on db: Connection
    ) throws {
        guard !closing.isEmpty else { return }
        let ends = Dictionary(closing, uniquingKeysWith: { first, _ in first })
        var windows: [Window] = []
        var drafts: [InvoiceWriter.Draft] = []
        for row in try db.query(
            """
            SELECT s.id, s.customer_id, coalesce(s.usage_window_start, s.current_period_start), s.plan_id, p.currency \
            FROM subscriptions s JOIN plans p ON p.id = s.plan_id \
            WHERE s.id = ANY(\(SQLArray(Array(ends.keys)))::uuid[]) AND p.charged_meter_ids <> '{}' ORDER BY s.id
            """
        ).rows {
            var r = RowReader(row)
            let subscription: ID<Subscription> = try r.id()
            let customer: ID<Customer> = try r.id()
            let start = try r.timestamp()
            guard let end = ends[subscription], start < end else { continue }
            let window = Window(
                customerID: customer, subscriptionID: subscription, start: start, end: end, planID: try r.id(),
                invoiceID: nil, closesAt: end.adding(seconds: config.usageGraceSeconds))
            windows.append(window)
            drafts.append(
                InvoiceWriter.Draft(
                    subscriptionID: subscription, customerID: customer, reason: .subscriptionUpdate,
                    currency: try r.string(), periodStart: start, periodEnd: end, lines: [],
                    takesPendingItems: false, finalizesAt: window.closesAt))
        }
        let invoices = try InvoiceWriter.writeDrafts(drafts, events: &events, now: now, on: db)
        for index in windows.indices { windows[index].invoiceID = invoices[index].id }
        try record(windows, on: db)
    }

    // MARK: Finalizing

    /// The billing run's step: prices up to `limit` windows whose grace has passed as of
    /// `asOf`, adds their lines to their drafts and finalizes those. Returns how many it took.
    static func finalizeBatch(
        asOf: Timestamp, now: Timestamp, scope: BillingRun.Scope, config: BillingConfig, limit: Int, on db: Connection
    ) throws -> Int {
        let picked: SQLQuery
        switch scope {
        case .realTime:
            // Windows are written only under their subscription's lock, so locking the
            // subscriptions (and customers, first in the lock order) is locking the windows.
            // In no order: any due window will do, and the scan stops at the limit (ordered,
            // a table whose statistics lag its churn was joined whole and sorted, measured:
            // 30 ms a batch of 500 at 10,000 due windows, against 2 ms).
            picked = """
                SELECT w.customer_id, w.subscription_id, w.window_start FROM usage_windows w \
                JOIN subscriptions s ON s.id = w.subscription_id JOIN customers c ON c.id = w.customer_id \
                WHERE w.billed_at IS NULL AND w.closes_at <= \(asOf) AND s.test_clock_id IS NULL \
                LIMIT \(limit) FOR UPDATE OF s, c SKIP LOCKED
                """
        case .clock(let clock, _):
            let customers = try BillingRun.lockCustomersInOrder(
                """
                SELECT w.customer_id FROM usage_windows w JOIN subscriptions s ON s.id = w.subscription_id \
                WHERE w.billed_at IS NULL AND w.closes_at <= \(asOf) AND s.test_clock_id = \(clock)\
                \(query: scope.shardCondition("w.customer_id")) LIMIT \(limit)
                """, on: db)
            guard !customers.isEmpty else { return 0 }
            // Subscriptions in id order, the order a batch of usage events share-locks them in.
            try db.query(
                """
                SELECT 1 FROM subscriptions WHERE customer_id = ANY(\(SQLArray(customers))::uuid[]) \
                AND test_clock_id = \(clock) ORDER BY id FOR UPDATE
                """)
            picked = """
                SELECT customer_id, subscription_id, window_start FROM usage_windows \
                WHERE customer_id = ANY(\(SQLArray(customers))::uuid[]) AND billed_at IS NULL AND closes_at <= \(asOf)
                """
        }
        let claimed = try claim(picked, now: now, on: db)
        guard !claimed.isEmpty else { return 0 }
        var events = EventLog.Pending(testClockID: scope.testClockID)
        var subscriptions: [ID<Subscription>: Subscription] = [:]
        var owners: [ID<Customer>: InvoiceService.Owner] = [:]
        for (window, subscription, owner) in claimed {
            subscriptions[subscription.id] = subscription
            owners[window.customerID] = owner
        }
        try finalize(
            try addLines(claimed.map(\.window), on: db), of: subscriptions, owners: owners, events: &events, now: now,
            config: config, on: db)
        try events.append(at: now, on: db)
        return claimed.count
    }

    /// Marks the windows `picked` selects (their customer, subscription and start) billed
    /// — a later event for one is refused — and returns them with their subscriptions and
    /// what their customers price drafts with, in one statement. Their customers and
    /// subscriptions are locked by the caller.
    private static func claim(_ picked: SQLQuery, now: Timestamp, on db: Connection) throws -> [(
        window: Window, subscription: Subscription, owner: InvoiceService.Owner
    )] {
        var query: SQLQuery = "WITH picked AS ("
        query.append(picked)
        query.append(unsafeSQL: ") UPDATE usage_windows w SET billed_at = ")
        query.append(bind: now)
        query.append(
            unsafeSQL: """
                 FROM picked, subscriptions s, customers c WHERE w.customer_id = picked.customer_id \
                AND w.subscription_id = picked.subscription_id AND w.window_start = picked.window_start \
                AND s.id = w.subscription_id AND c.id = w.customer_id RETURNING w.customer_id, w.subscription_id, \
                w.window_start, w.window_end, w.plan_id, w.invoice_id, w.closes_at, \(Subscription.qualifiedColumns), \
                c.balance_cents, c.tax_rate_ids, c.test_clock_id
                """)
        return try db.query(query).rows.map { row in
            var r = RowReader(row)
            let window = Window(
                customerID: try r.id(), subscriptionID: try r.id(), start: try r.timestamp(), end: try r.timestamp(),
                planID: try r.id(), invoiceID: try r.id(), closesAt: try r.timestamp())
            let subscription = try Subscription(&r)
            return (
                window, subscription,
                InvoiceService.Owner(balance: try r.int64(), taxRateIDs: try r.ids(), testClockID: r.optionalID())
            )
        }
    }

    /// Adds the usage lines of claimed windows to their drafts; returns the drafts with all
    /// their lines. A draft changes only under its customer's lock, which the caller holds,
    /// so the drafts need no lock of their own.
    private static func addLines(_ windows: [Window], on db: Connection) throws -> [Invoice] {
        let lines = try self.lines(of: windows, on: db)
        var drafts = try InvoiceService.folding(
            db.query(
                InvoiceService.lines.joined(
                    to: """
                        SELECT \(unsafeSQL: Invoice.columns), seq FROM invoices \
                        WHERE id = ANY(\(SQLArray(windows.compactMap(\.invoiceID)))::uuid[]) AND status = 'draft'
                        """)
            ).rows)
        var index: [ID<Invoice>: Int] = [:]
        for (position, draft) in drafts.enumerated() { if let id = draft.id { index[id] = position } }
        var newLines: [(invoice: ID<Invoice>?, position: Int, line: InvoiceLine)] = []
        var lineIDs = ID<InvoiceLine>.generate(count: lines.reduce(0) { $0 + $1.count }).makeIterator()
        for (window, priced) in zip(windows, lines) {
            // A draft is never deleted while it bills usage (`InvoiceService` refuses it).
            guard let invoiceID = window.invoiceID, let position = index[invoiceID] else { continue }
            for line in priced {
                let stored = InvoiceLine(id: lineIDs.next(), line)
                newLines.append((invoiceID, drafts[position].lines.count, stored))
                drafts[position].lines.append(stored)
            }
        }
        if !newLines.isEmpty { try db.query(InvoiceWriter.insertLines(newLines)) }
        return drafts
    }

    /// A locked draft finalized by hand before its grace ends takes the usage counted so far
    /// (later events for its windows are refused); returns it with its lines, or nil when it
    /// bills no usage still open.
    static func addUsageLines(toDraft id: ID<Invoice>, now: Timestamp, on db: Connection) throws -> Invoice? {
        let claimed = try claim(
            """
            SELECT customer_id, subscription_id, window_start FROM usage_windows WHERE invoice_id = \(id) \
            AND billed_at IS NULL
            """, now: now, on: db)
        guard !claimed.isEmpty else { return nil }
        return try addLines(claimed.map(\.window), on: db).first
    }

    /// Finalizes subscription drafts whose lines are complete, in a fixed number of
    /// statements. Their customers and `subscriptions` are locked by the caller.
    private static func finalize(
        _ drafts: [Invoice], of subscriptions: [ID<Subscription>: Subscription],
        owners: [ID<Customer>: InvoiceService.Owner], events: inout EventLog.Pending, now: Timestamp,
        config: BillingConfig, on db: Connection
    ) throws {
        guard !drafts.isEmpty else { return }
        let rateIDs = Set(subscriptions.values.flatMap(\.taxRateIDs) + owners.values.flatMap(\.taxRateIDs))
        let terms = try TaxRateService.terms(of: rateIDs.map(\.uuid), on: db)
        let coupons = try CouponService.coupons(subscriptions.values.compactMap { $0.discount?.couponID }, on: db)
        let before = owners.mapValues(\.balance)
        var balances = before
        var applied: [ID<Subscription>: Int] = [:]
        var kept: [Invoice] = []
        var finalized: [Invoice] = []
        var paused: [PauseCollection.Behavior?] = []
        for var invoice in drafts.sorted(by: { $0.periodStart < $1.periodStart }) {
            guard let id = invoice.subscriptionID, var subscription = subscriptions[id] else { continue }
            let rates =
                (subscription.taxRateIDs.isEmpty
                ? owners[invoice.customerID]?.taxRateIDs ?? [] : subscription.taxRateIDs)
                .compactMap { terms[$0.uuid] }
            let behavior = subscription.pauseCollection?.behavior(forPeriodStarting: invoice.periodStart)
            if behavior == .keepAsDraft {
                kept.append(invoice)
                continue
            }
            subscription.discount?.periodsApplied += applied[id] ?? 0
            let discount = subscription.discount(for: invoice.periodStart, coupons: coupons)
            if discount != nil { applied[id, default: 0] += 1 }
            let balance = balances[invoice.customerID] ?? 0
            invoice.totals = try Pricing.totals(
                of: invoice.lines.map(\.priced), discount: discount?.terms, rates: rates, balance: balance)
            invoice.discount = discount.map {
                AppliedDiscount(couponID: $0.coupon.id, couponCode: $0.coupon.code, amount: invoice.totals.discount)
            }
            balances[invoice.customerID] = invoice.totals.newBalance
            invoice.daysUntilDue = config.invoiceDueDays
            // A cycle's invoice is due a set time after its period starts; a usage-only one
            // after it is finalized (its period is over).
            let dueFrom = invoice.billingReason == .subscriptionCycle ? invoice.periodStart : now
            invoice.dueAt = dueFrom.adding(seconds: Int64(config.invoiceDueDays) * 86_400)
            invoice.finalize(at: now)
            finalized.append(invoice)
            paused.append(behavior)
        }
        // Kept as drafts (paused collection): their stored totals follow their new lines.
        events.add(.invoiceUpdated, each: try InvoiceWriter.storeDraftTotals(kept, on: db))
        // What was written so far goes first: the global series' lock is taken last.
        try events.flush(at: now, on: db)
        let numbered = try InvoiceWriter.finalizeDrafts(
            finalized, numbering: config.numbering, now: now, testClockID: events.testClockID, on: db)
        try CustomerService.saveBalances(
            balances.filter { before[$0.key] != $0.value }, events: &events, now: now, on: db)
        if !applied.isEmpty {
            let entries = Array(applied)
            try db.query(
                """
                UPDATE subscriptions s SET discount_periods_applied = s.discount_periods_applied + v.n \
                FROM unnest(\(SQLArray(entries) { $0.key })::uuid[], \(SQLArray(entries) { $0.value })::int[]) AS v(id, n) \
                WHERE s.id = v.id
                """)
        }
        try InvoiceService.settlePaused(Array(zip(numbered, paused)), events: &events, now: now, on: db)
    }
}
