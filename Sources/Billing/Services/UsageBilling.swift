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

        init(
            customerID: ID<Customer>, subscriptionID: ID<Subscription>, start: Timestamp, end: Timestamp,
            planID: ID<Plan>, invoiceID: ID<Invoice>?, closesAt: Timestamp
        ) {
            self.customerID = customerID
            self.subscriptionID = subscriptionID
            self.start = start
            self.end = end
            self.planID = planID
            self.invoiceID = invoiceID
            self.closesAt = closesAt
        }

        /// From the columns customer_id, subscription_id, window_start, window_end, plan_id,
        /// invoice_id, closes_at.
        init(row: Row) throws {
            var r = RowReader(row)
            self.init(
                customerID: try r.id(), subscriptionID: try r.id(), start: try r.timestamp(), end: try r.timestamp(),
                planID: try r.id(), invoiceID: try r.id(), closesAt: try r.timestamp())
        }
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
        let plans = try charges(ofPlans: Array(Set(windows.map(\.planID))), on: db)
        let meters = try MeterService.byID(Array(Set(plans.values.flatMap { $0.map(\.meterID) })), on: db)
        let totals = try self.totals(of: windows, on: db)
        return try windows.map { window in
            try (plans[window.planID] ?? []).map { charge in
                guard let meter = meters[charge.meterID] else { throw StoredDataError("a charge's meter") }
                let quantity =
                    totals[TotalsKey(window.subscriptionID, window.start, meter.id)]?.quantity(meter) ?? .zero
                guard let amount = charge.amount(for: quantity) else {
                    throw BillingError.invalid(
                        field: "usage",
                        message: "the usage of the meter \(meter.code) prices past a line's limit (10^12)")
                }
                return PricedLine(
                    kind: .usage, description: meter.name, amount: amount, quantity: 1, unitAmount: nil,
                    start: window.start, end: window.end, usage: UsageQuantity(meterID: meter.id, quantity: quantity))
            }
        }
    }

    /// The usage of the subscription's current window, priced exactly as the run will.
    public static func current(_ id: ID<Subscription>, on db: Connection) throws -> Current {
        guard
            let row = try db.query(
                """
                SELECT \(unsafeSQL: Subscription.columns) FROM subscriptions WHERE id = \(id)
                """
            ).first
        else { throw BillingError.notFound("no such subscription") }
        let subscription = try Subscription(row: row)
        return Current(
            periodStart: subscription.usageWindowStart,
            periodEnd: subscription.endedAt ?? subscription.currentPeriodEnd,
            charges: try linesOfCurrentWindow(subscription, on: db).map { line in
                guard let usage = line.usage else { throw StoredDataError("a usage line") }
                return Current.Charge(
                    meterID: usage.meterID, meterCode: try MeterService.get(usage.meterID, on: db).code,
                    quantity: usage.quantity, amountCents: line.amount)
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

    private static func charges(ofPlans ids: [ID<Plan>], on db: Connection) throws -> [ID<Plan>: [UsageCharge]] {
        var charges: [ID<Plan>: [UsageCharge]] = [:]
        for row in try db.query("SELECT id, charges FROM plans WHERE id = ANY(\(SQLArray(ids))::uuid[])").rows {
            var r = RowReader(row)
            charges[try r.id()] = try UsageCharge.decodeStored(try r.string())
        }
        return charges
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
            SELECT t.subscription_id, t.window_start, t.meter_id, t.event_count, t.value_sum::text, \
            coalesce(t.value_max, 0)::text, coalesce(t.latest_value, 0)::text, t.unique_count FROM usage_totals t \
            JOIN unnest(\(SQLArray(windows) { $0.customerID })::uuid[], \(SQLArray(windows) { $0.subscriptionID })::uuid[], \
            \(SQLArray(windows) { $0.start })::timestamptz[]) AS w(customer_id, subscription_id, window_start) \
            ON t.customer_id = w.customer_id AND t.subscription_id = w.subscription_id AND t.window_start = w.window_start
            """
        ).rows {
            var r = RowReader(row)
            let key = TotalsKey(try r.id(), try r.timestamp(), try r.id())
            let count = try r.int64()
            let decimals = try (0..<3).map { _ in
                guard let value = ExactDecimal(parsing: try r.string()) else { throw StoredDataError("usage totals") }
                return value
            }
            totals[key] = Totals(
                count: count, sum: decimals[0], max: decimals[1], latest: decimals[2], unique: try r.int64())
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
        let columns =
            "w.customer_id, w.subscription_id, w.window_start, w.window_end, w.plan_id, w.invoice_id, w.closes_at"
        let query: SQLQuery
        switch scope {
        case .realTime:
            query = """
                SELECT \(unsafeSQL: columns) FROM usage_windows w JOIN subscriptions s ON s.id = w.subscription_id \
                JOIN customers c ON c.id = w.customer_id WHERE w.billed_at IS NULL AND w.closes_at <= \(asOf) \
                AND s.test_clock_id IS NULL ORDER BY w.closes_at LIMIT \(limit) FOR UPDATE OF w, s, c SKIP LOCKED
                """
        case .clock(let clock, _):
            let customers = try BillingRun.lockCustomersInOrder(
                """
                SELECT w.customer_id FROM usage_windows w JOIN subscriptions s ON s.id = w.subscription_id \
                WHERE w.billed_at IS NULL AND w.closes_at <= \(asOf) AND s.test_clock_id = \(clock)\
                \(unsafeSQL: scope.shardCondition("w.customer_id")) LIMIT \(limit)
                """, on: db)
            guard !customers.isEmpty else { return 0 }
            // Subscriptions before their windows, in id order: the order a batch of usage
            // events share-locks them in.
            try db.query(
                """
                SELECT 1 FROM subscriptions WHERE customer_id = ANY(\(SQLArray(customers))::uuid[]) \
                AND test_clock_id = \(clock) ORDER BY id FOR UPDATE
                """)
            query = """
                SELECT \(unsafeSQL: columns) FROM usage_windows w \
                WHERE w.customer_id = ANY(\(SQLArray(customers))::uuid[]) AND w.billed_at IS NULL \
                AND w.closes_at <= \(asOf) ORDER BY w.subscription_id, w.window_start FOR UPDATE
                """
        }
        let windows = try db.query(query).rows.map(Window.init(row:))
        guard !windows.isEmpty else { return 0 }
        var events = EventLog.Pending(testClockID: scope.testClockID)
        try bill(windows, events: &events, now: now, config: config, on: db)
        try events.append(at: now, on: db)
        return windows.count
    }

    /// Bills locked windows: their usage lines are added to their drafts, the windows are
    /// marked billed (a later event for them is refused), and the drafts are finalized —
    /// priced with their subscription's discount and rates and the customer's balance of
    /// now — unless collection is paused and keeps them as drafts.
    static func bill(
        _ windows: [Window], events: inout EventLog.Pending, now: Timestamp, config: BillingConfig,
        on db: Connection
    ) throws {
        try finalize(try addLines(windows, now: now, on: db), events: &events, now: now, config: config, on: db)
    }

    /// Adds the usage lines of locked windows to their drafts and marks the windows billed;
    /// returns the drafts (locked) with all their lines.
    static func addLines(_ windows: [Window], now: Timestamp, on db: Connection) throws -> [Invoice] {
        let invoiceIDs = windows.compactMap(\.invoiceID)
        let lines = try self.lines(of: windows, on: db)
        try db.query(
            """
            UPDATE usage_windows w SET billed_at = \(now) FROM unnest(\(SQLArray(windows) { $0.customerID })::uuid[], \
            \(SQLArray(windows) { $0.subscriptionID })::uuid[], \(SQLArray(windows) { $0.start })::timestamptz[]) \
            AS v(customer_id, subscription_id, window_start) WHERE w.customer_id = v.customer_id \
            AND w.subscription_id = v.subscription_id AND w.window_start = v.window_start
            """)
        var drafts = try InvoiceService.withLines(
            try db.query(
                """
                SELECT \(unsafeSQL: Invoice.columns) FROM invoices WHERE id = ANY(\(SQLArray(invoiceIDs))::uuid[]) \
                AND status = 'draft' ORDER BY id FOR UPDATE
                """
            ).rows.map { try Invoice(row: $0) }, on: db)
        var index: [ID<Invoice>: Int] = [:]
        for (position, draft) in drafts.enumerated() { if let id = draft.id { index[id] = position } }
        var newLines: [(invoice: ID<Invoice>?, position: Int, line: InvoiceLine)] = []
        var lineIDs = ID<InvoiceLine>.generate(count: lines.reduce(0) { $0 + $1.count }).makeIterator()
        for (window, priced) in zip(windows, lines) {
            // A draft finalized or deleted by hand took nothing more (`InvoiceService` refuses both).
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

    /// The unbilled windows of a locked draft, locked: a draft finalized by hand before its
    /// grace ends takes its usage so far (later events for its window are refused).
    static func unbilledWindows(ofDraft id: ID<Invoice>, on db: Connection) throws -> [Window] {
        try db.query(
            """
            SELECT customer_id, subscription_id, window_start, window_end, plan_id, invoice_id, closes_at             FROM usage_windows WHERE invoice_id = \(id) AND billed_at IS NULL FOR UPDATE
            """
        ).rows.map(Window.init(row:))
    }

    /// Finalizes subscription drafts whose lines are complete, in a fixed number of statements.
    private static func finalize(
        _ drafts: [Invoice], events: inout EventLog.Pending, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws {
        guard !drafts.isEmpty else { return }
        let subscriptions = try Dictionary(
            uniqueKeysWithValues: db.query(
                """
                SELECT \(unsafeSQL: Subscription.columns) FROM subscriptions \
                WHERE id = ANY(\(SQLArray(drafts.compactMap(\.subscriptionID)))::uuid[])
                """
            ).rows.map { row in
                let subscription = try Subscription(row: row)
                return (subscription.id, subscription)
            })
        let customers = try CustomerService.get(Array(Set(drafts.map(\.customerID))), on: db)
        let rateIDs = Set(subscriptions.values.flatMap(\.taxRateIDs) + customers.values.flatMap(\.taxRateIDs))
        let terms = try TaxRateService.terms(of: rateIDs.map(\.uuid), on: db)
        let coupons = try CouponService.coupons(subscriptions.values.compactMap { $0.discount?.couponID }, on: db)
        var balances = try CustomerService.lockBalances(Array(customers.keys), on: db)
        let before = balances
        var applied: [ID<Subscription>: Int] = [:]
        var kept: [Invoice] = []
        var finalized: [Invoice] = []
        var paused: [PauseCollection.Behavior?] = []
        for var invoice in drafts.sorted(by: { $0.periodStart < $1.periodStart }) {
            guard let id = invoice.subscriptionID, var subscription = subscriptions[id] else { continue }
            let rates =
                (subscription.taxRateIDs.isEmpty
                ? customers[invoice.customerID]?.taxRateIDs ?? [] : subscription.taxRateIDs)
                .compactMap { terms[$0.uuid] }
            let behavior = subscription.pauseCollection?.behavior(forPeriodStarting: invoice.periodStart)
            if behavior == .keepAsDraft {
                invoice.totals = try Pricing.totals(of: invoice.lines.map(\.priced), balance: 0)
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
        try updateDraftTotals(kept, events: &events, on: db)
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

    /// Drafts kept as drafts (paused collection) with their usage lines: their stored totals
    /// follow their lines, as a draft's do.
    private static func updateDraftTotals(_ drafts: [Invoice], events: inout EventLog.Pending, on db: Connection) throws
    {
        guard !drafts.isEmpty else { return }
        try db.query(
            """
            UPDATE invoices i SET subtotal_cents = v.subtotal, total_cents = v.total, amount_cents = v.total, \
            amount_remaining_cents = v.total, balance_applied_cents = 0 \
            FROM unnest(\(SQLArray(drafts) { $0.id })::uuid[], \(SQLArray(drafts) { $0.totals.subtotal })::bigint[], \
            \(SQLArray(drafts) { $0.totals.total })::bigint[]) AS v(id, subtotal, total) WHERE i.id = v.id
            """)
        events.add(.invoiceUpdated, each: drafts)
    }
}
