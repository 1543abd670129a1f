import Common
import Postgres

/// Starts subscriptions (with their first invoice, in one transaction) and reads them.
public enum SubscriptionService {
    public struct Create: Sendable {
        public var customerID: ID<Customer>
        public var planID: ID<Plan>
        public var startAt: Timestamp?
        public var trialDays: Int?
        public var quantity: Int
        public var taxRateIDs: [ID<TaxRate>]
        /// A coupon's code: the subscription's discount from its start.
        public var coupon: String?
        /// The first period's end, when it is not the plan's interval after the start.
        public var billingCycleAnchor: Timestamp?
        public var prorationBehavior: ProrationBehavior
        public init(
            customerID: ID<Customer>, planID: ID<Plan>, startAt: Timestamp?, trialDays: Int?, quantity: Int,
            taxRateIDs: [ID<TaxRate>] = [], coupon: String? = nil, billingCycleAnchor: Timestamp? = nil,
            prorationBehavior: ProrationBehavior = .createProrations
        ) {
            self.coupon = coupon
            self.billingCycleAnchor = billingCycleAnchor
            self.prorationBehavior = prorationBehavior
            self.customerID = customerID
            self.planID = planID
            self.startAt = startAt
            self.trialDays = trialDays
            self.quantity = quantity
            self.taxRateIDs = taxRateIDs
        }
    }

    /// What a new subscription looks like before it is stored: pure, so it is unit-tested.
    public struct Start: Equatable, Sendable {
        public var status: Subscription.Status
        public var anchor: Timestamp
        public var trialEnd: Timestamp?
        public var periodStart: Timestamp
        public var periodEnd: Timestamp
        public var lineKind: InvoiceLine.Kind

        /// A trial runs `[start, start + trialDays)` (local calendar days in `zone`) and its
        /// invoice is 0. Otherwise the first period runs from `start` to the schedule's next
        /// boundary at the plan's price, or, with an anchor after the start (`anchor`, or the
        /// calendar's for a `calendar` plan), from `start` to the anchor, prorated (`time.md`).
        /// After a trial, a calendar plan anchors on the calendar boundary that follows it.
        public init(
            start: Timestamp, trialDays: Int, interval: BillingInterval, zone: Zone = .utc, anchor: Timestamp? = nil,
            cycle: BillingCycle = .anniversary
        ) {
            func calendar(after instant: Timestamp) -> Timestamp? {
                cycle == .calendar ? BillingCycle.calendarAnchor(after: instant, unit: interval.unit, zone: zone) : nil
            }
            if trialDays > 0 {
                let end = zone.adding(days: trialDays, to: start)
                self.init(
                    status: .trialing, anchor: anchor ?? calendar(after: end) ?? end, trialEnd: end,
                    periodStart: start, periodEnd: end, lineKind: .trial)
            } else if let anchor = anchor ?? calendar(after: start), anchor > start {
                self.init(
                    status: .active, anchor: anchor, trialEnd: nil, periodStart: start, periodEnd: anchor,
                    lineKind: .proration)
            } else {
                let period = BillingSchedule(anchor: start, interval: interval, zone: zone).period(0)
                self.init(
                    status: .active, anchor: start, trialEnd: nil, periodStart: period.start, periodEnd: period.end,
                    lineKind: .subscription)
            }
        }

        init(
            status: Subscription.Status, anchor: Timestamp, trialEnd: Timestamp?, periodStart: Timestamp,
            periodEnd: Timestamp, lineKind: InvoiceLine.Kind
        ) {
            self.status = status
            self.anchor = anchor
            self.trialEnd = trialEnd
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            self.lineKind = lineKind
        }
    }

    /// Whether the part of the first period before the anchor is billed (`time.md`).
    public enum ProrationBehavior: String, CaseIterable, Sendable {
        case createProrations = "create_prorations"
        case none
    }

    public struct Created: Sendable {
        public var subscription: Subscription
        public var invoice: Invoice
    }

    /// The earliest `start_at`: every action on a subscription first catches up its missed
    /// periods in its own transaction, so how far back one may start bounds that work (a
    /// daily plan from here is about 10,000 periods).
    public static let earliestStart = Timestamp(epochSeconds: 946_684_800)  // 2000-01-01T00:00:00Z

    public static func create(_ input: Create, now: Timestamp, config: BillingConfig, on db: Connection) throws
        -> Created
    {
        if let startAt = input.startAt, startAt < earliestStart {
            throw BillingError.invalid(field: "start_at", message: "must not be before \(earliestStart)")
        }
        // Locking the customer serialises everything that touches its balance and currency.
        let customer = try CustomerService.lock(input.customerID, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: customer.testClockID, else: now, events: &events, on: db)
        let startAt = input.startAt ?? now
        guard startAt <= now else {
            throw BillingError.invalid(field: "start_at", message: "must not be in the future")
        }
        let plan = try PlanService.get(input.planID, on: db)
        guard plan.isActive else { throw BillingError.conflict("the plan is not active", slug: "plan-inactive") }
        if let currency = customer.currency, currency != plan.currency {
            throw BillingError.invalid(
                field: "plan_id", message: "the customer is billed in \(currency); this plan is in \(plan.currency)")
        }
        guard Pricing.extended(plan.amountCents, quantity: input.quantity) != nil else {
            throw tooManySeats
        }
        try TaxRateService.checkAssignable(input.taxRateIDs, on: db)
        let rates = try TaxRateService.terms(
            ofRates: input.taxRateIDs.isEmpty ? customer.taxRateIDs : input.taxRateIDs, on: db)
        let trialDays = input.trialDays ?? plan.trialDays
        if let anchor = input.billingCycleAnchor {
            try checkAnchor(
                anchor, start: startAt, trialDays: trialDays, interval: plan.interval, zone: customer.zone, now: now)
        }
        let start = Start(
            start: startAt, trialDays: trialDays, interval: plan.interval, zone: customer.zone,
            anchor: input.billingCycleAnchor, cycle: plan.billingCycle)
        // A coupon given here discounts from the start: the first invoice is always its first.
        // Its terms never change, so it is read now and redeemed last (see `redeem`).
        let coupon = try input.coupon.map {
            try CouponService.redeemable(code: $0, currency: plan.currency, now: now, on: db)
        }
        let discountEnd = coupon.flatMap { coupon in
            coupon.durationInPeriods.map {
                SubscriptionDiscount.end(
                    start: startAt, periods: $0, anchor: start.anchor, interval: plan.interval, zone: customer.zone)
            }
        }
        let inserted = try mapUniqueViolation(
            to: .conflict("the customer already has a live subscription", slug: "subscription-exists")
        ) {
            try db.query(
                """
                INSERT INTO subscriptions (id, customer_id, plan_id, quantity, status, start_at, billing_cycle_anchor, \
                current_period_start, current_period_end, trial_end, tax_rate_ids, discount_coupon_id, \
                discount_coupon_code, discount_start, discount_end, discount_periods_applied, timezone, test_clock_id, \
                created_at, updated_at) \
                VALUES (\(ID<Subscription>.generate()), \(customer.id), \(plan.id), \(input.quantity), \(start.status.rawValue), \
                \(startAt), \(start.anchor), \(start.periodStart), \(start.periodEnd), \(start.trialEnd), \
                \(SQLArray(input.taxRateIDs))::uuid[], \(coupon?.id), \(coupon?.code), \(coupon.map { _ in startAt }), \
                \(discountEnd), \(coupon == nil ? 0 : 1), \(customer.zone.name), \(customer.testClockID), \(now), \(now)) \
                RETURNING \(unsafeSQL: Subscription.columns)
                """)
        }
        let subscription = try Subscription(row: inserted[0])
        events.add(.subscriptionCreated, subscription)
        var line: PricedLine
        switch start.lineKind {
        case .trial:
            line = Pricing.trialLine(
                planName: plan.name, quantity: input.quantity, start: start.periodStart, end: start.periodEnd)
        default:
            let schedule = subscription.schedule(plan.interval)
            line = schedule.line(
                for: schedule.stub(from: start.periodStart) ?? schedule.period(0), planName: plan.name,
                unitAmount: plan.amountCents, quantity: input.quantity)
            // `none` bills nothing until the anchor: the stub's line is there, at 0.
            if start.lineKind == .proration && input.prorationBehavior == .none { line.amount = 0 }
        }
        var balances = [customer.id: customer.balanceCents]
        let invoice = try InvoiceWriter.write(
            [
                .init(
                    subscriptionID: subscription.id, customerID: customer.id, reason: .subscriptionCreate,
                    currency: plan.currency, periodStart: start.periodStart, periodEnd: start.periodEnd, lines: [line],
                    rates: rates, discount: coupon.map { ($0, $0.terms) })
            ], balances: &balances, events: &events, now: now, config: config, on: db)[0]
        let balance = balances[customer.id] ?? customer.balanceCents
        if customer.currency == nil || balance != customer.balanceCents {
            try CustomerService.setCurrencyAndBalance(
                customer.id, currency: plan.currency, balance: balance, events: &events, now: now, on: db)
        }
        if let coupon { events.add(.couponUpdated, try CouponService.redeem(coupon, now: now, on: db)) }
        try events.append(at: now, on: db)
        return Created(subscription: subscription, invoice: invoice)
    }

    /// An anchor is in the future, after the start and at most one interval after it, and
    /// not with a trial (whose end anchors the periods).
    static func checkAnchor(
        _ anchor: Timestamp, start: Timestamp, trialDays: Int, interval: BillingInterval, zone: Zone, now: Timestamp
    ) throws {
        func refuse(_ message: String) -> BillingError { .invalid(field: "billing_cycle_anchor", message: message) }
        guard trialDays == 0 else { throw refuse("cannot be set with a trial: the trial's end anchors the periods") }
        guard anchor > now, anchor > start else { throw refuse("must be in the future and after the start") }
        let latest = BillingSchedule(anchor: start, interval: interval, zone: zone).boundary(1)
        guard anchor <= latest else {
            throw refuse("must be at most one interval (every \(interval.phrase)) after the start, \(latest)")
        }
    }

    /// A plan's amount × quantity past the line limit.
    static let tooManySeats = BillingError.invalid(
        field: "quantity", message: "the plan's amount × quantity must be at most 10^12")

    public static func get(_ id: ID<Subscription>, on db: Connection) throws -> Subscription {
        let result = try db.query("SELECT \(unsafeSQL: Subscription.columns) FROM subscriptions WHERE id = \(id)")
        guard let row = result.first else { throw BillingError.notFound("no such subscription") }
        return try Subscription(row: row)
    }

    public static func list(
        customerID: ID<Customer>?, planID: ID<Plan>?, status: String?, page: PageRequest, on db: Connection
    ) throws -> Page<Subscription> {
        var query = ListQuery(table: "subscriptions", columns: Subscription.columns)
        query.filter("customer_id", customerID)
        query.filter("plan_id", planID)
        query.filter("status", status)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Subscription.init(row:))
    }
}
