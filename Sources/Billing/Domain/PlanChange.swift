import Common

/// The arithmetic of a change of plan or quantity at `now`, pure so that every case is
/// table-tested.
public struct PlanChange: Equatable, Sendable {
    /// What a subscription is billed for: a plan's price, per unit, times the quantity.
    public struct Terms: Equatable, Sendable {
        public var planName: String
        public var unitAmount: Int64
        public var quantity: Int
        public var interval: BillingInterval

        public init(planName: String, unitAmount: Int64, quantity: Int, interval: BillingInterval) {
            self.planName = planName
            self.unitAmount = unitAmount
            self.quantity = quantity
            self.interval = interval
        }
    }

    public var anchor: Timestamp
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    /// The lines of the change's invoice; empty when nothing is invoiced.
    public var lines: [PricedLine]

    public var lineAmounts: [Int64] { lines.map(\.amount) }
    public var lineKinds: [InvoiceLine.Kind] { lines.map(\.kind) }

    /// `unusedCredit` is what was billed for the rest of the current period (see
    /// `SubscriptionService.unusedBilled`), credited when prorating. The new terms' amount
    /// (unit × quantity) is checked against the line limit by the caller.
    public init(
        from old: Terms, unusedCredit: Int64, to new: Terms, prorate: Bool, now: Timestamp,
        status: Subscription.Status, anchor: Timestamp, periodStart: Timestamp, periodEnd: Timestamp, zone: Zone = .utc
    ) {
        // A trial costs nothing on any plan or quantity: the trial goes on, nothing is invoiced.
        guard status != .trialing else {
            self.anchor = anchor
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            lines = []
            return
        }
        let creditLine = Pricing.unusedTimeLine(
            planName: old.planName, unitAmount: old.unitAmount, quantity: old.quantity, credit: unusedCredit,
            from: now, to: periodEnd)
        if old.interval == new.interval {
            self.anchor = anchor
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            lines =
                prorate
                ? [
                    creditLine,
                    Pricing.remainingTimeLine(
                        planName: new.planName, unitAmount: new.unitAmount, quantity: new.quantity, from: now,
                        to: periodEnd, periodStart: periodStart),
                ]
                : []
        } else {
            let period = BillingSchedule(anchor: now, interval: new.interval, zone: zone).period(0)
            self.anchor = now
            self.periodStart = period.start
            self.periodEnd = period.end
            lines =
                [
                    Pricing.periodLine(
                        planName: new.planName, interval: new.interval, unitAmount: new.unitAmount,
                        quantity: new.quantity, start: period.start, end: period.end)
                ] + (prorate ? [creditLine] : [])
        }
    }
}
