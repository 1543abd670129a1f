import Common

/// The arithmetic of a plan change at `now`, pure so that every case is table-tested.
public struct PlanChange: Equatable, Sendable {
    public var anchor: Timestamp
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    /// The lines of the change's invoice; empty when nothing is invoiced.
    public var lines: [PricedLine]

    public var lineAmounts: [Int64] { lines.map(\.amount) }
    public var lineKinds: [InvoiceLine.Kind] { lines.map(\.kind) }

    /// `unusedCredit` is what was billed for the rest of the current period (see
    /// `SubscriptionService.unusedBilled`), credited when prorating.
    public init(
        oldName: String, unusedCredit: Int64, oldInterval: BillingInterval, newName: String, newAmount: Int64,
        newInterval: BillingInterval, prorate: Bool, now: Timestamp, status: Subscription.Status,
        anchor: Timestamp, periodStart: Timestamp, periodEnd: Timestamp
    ) {
        // A trial costs nothing on any plan: the trial goes on, nothing is invoiced.
        guard status != .trialing else {
            self.anchor = anchor
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            lines = []
            return
        }
        let charge = Proration.share(
            of: newAmount, remaining: periodEnd.epochSeconds - now.epochSeconds,
            of: periodEnd.epochSeconds - periodStart.epochSeconds)
        let creditLine = Pricing.unusedTimeLine(planName: oldName, credit: unusedCredit, from: now, to: periodEnd)
        if oldInterval == newInterval {
            self.anchor = anchor
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            lines =
                prorate
                ? [creditLine, Pricing.remainingTimeLine(planName: newName, charge: charge, from: now, to: periodEnd)]
                : []
        } else {
            let period = BillingSchedule(anchor: now, interval: newInterval).period(0)
            self.anchor = now
            self.periodStart = period.start
            self.periodEnd = period.end
            lines =
                [
                    Pricing.periodLine(
                        planName: newName, interval: newInterval, amount: newAmount, start: period.start,
                        end: period.end)
                ] + (prorate ? [creditLine] : [])
        }
    }
}
