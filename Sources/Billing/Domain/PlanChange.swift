import Common

/// The arithmetic of a plan change at `now`, pure so that every case is table-tested.
public struct PlanChange: Equatable, Sendable {
    public var anchor: Timestamp
    public var periodStart: Timestamp
    public var periodEnd: Timestamp
    /// The lines of the change's invoice; empty when nothing is invoiced.
    var lines: [InvoiceWriter.Line]

    public var lineAmounts: [Int64] { lines.map(\.amount) }
    public var lineKinds: [InvoiceLine.Kind] { lines.map(\.kind) }

    public init(from oldPlan: Plan, to newPlan: Plan, prorate: Bool, now: Timestamp, subscription: Subscription) {
        self.init(
            oldName: oldPlan.name, oldAmount: oldPlan.amountCents, oldInterval: oldPlan.interval,
            newName: newPlan.name, newAmount: newPlan.amountCents, newInterval: newPlan.interval,
            prorate: prorate, now: now, status: subscription.status, anchor: subscription.billingCycleAnchor,
            periodStart: subscription.currentPeriodStart, periodEnd: subscription.currentPeriodEnd)
    }

    public init(
        oldName: String, oldAmount: Int64, oldInterval: BillingInterval, newName: String, newAmount: Int64,
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
        let (credit, charge) = Proration.change(
            from: oldAmount, to: newAmount, at: now.epochSeconds, periodStart: periodStart.epochSeconds,
            periodEnd: periodEnd.epochSeconds)
        let creditLine = InvoiceWriter.Line(
            kind: .proration, description: "Unused time on \(oldName)", amount: credit, start: now, end: periodEnd)
        if oldInterval == newInterval {
            self.anchor = anchor
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            lines =
                prorate
                ? [
                    creditLine,
                    .init(
                        kind: .proration, description: "Remaining time on \(newName)", amount: charge, start: now,
                        end: periodEnd),
                ] : []
        } else {
            let period = BillingSchedule(anchor: now, interval: newInterval).period(0)
            self.anchor = now
            self.periodStart = period.start
            self.periodEnd = period.end
            lines =
                [
                    .init(
                        kind: .subscription, description: "\(newName) (every \(newInterval.phrase))", amount: newAmount,
                        start: period.start, end: period.end)
                ] + (prorate ? [creditLine] : [])
        }
    }

    public static func == (lhs: PlanChange, rhs: PlanChange) -> Bool {
        lhs.anchor == rhs.anchor && lhs.periodStart == rhs.periodStart && lhs.periodEnd == rhs.periodEnd
            && lhs.lineAmounts == rhs.lineAmounts && lhs.lineKinds == rhs.lineKinds
    }
}
