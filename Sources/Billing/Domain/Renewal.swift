import Common

/// What the billing run does to one subscription up to `asOf`: pure, so that the rules
/// (trial end, catch-up of every missed period in order, cancel at period end) are
/// unit-tested without a database. Periods always come from the anchor.
public struct Renewal: Equatable, Sendable {
    /// Periods to invoice, oldest first.
    public var invoices: [BillingSchedule.Period] = []
    public var trialEnded = false
    /// Set when `cancel_at_period_end` ends the subscription at this instant.
    public var endedAt: Timestamp?
    public var status: Subscription.Status
    public var currentPeriodStart: Timestamp
    public var currentPeriodEnd: Timestamp

    /// False when `maximumPeriods` stopped the catch-up before `asOf`: the rest is due in
    /// the next transaction, which starts from the period this one stored.
    public var isComplete = true

    /// Whether the run changes anything.
    public var changesSomething: Bool { trialEnded || endedAt != nil || !invoices.isEmpty }

    public init(
        status: Subscription.Status, anchor: Timestamp, interval: BillingInterval, zone: Zone = .utc,
        trialEnd: Timestamp?,
        currentPeriodStart: Timestamp, currentPeriodEnd: Timestamp, cancelAtPeriodEnd: Bool, asOf: Timestamp,
        maximumPeriods: Int = .max
    ) {
        self.status = status
        self.currentPeriodStart = currentPeriodStart
        self.currentPeriodEnd = currentPeriodEnd
        guard status != .canceled else { return }
        let schedule = BillingSchedule(anchor: anchor, interval: interval, zone: zone)

        if status == .trialing {
            guard let trialEnd, trialEnd <= asOf else { return }
            guard maximumPeriods > 0 else {
                isComplete = false
                return
            }
            if cancelAtPeriodEnd {
                endedAt = trialEnd
                self.status = .canceled
                return
            }
            trialEnded = true
            self.status = .active
            // A calendar anchor after the trial's end: the part before it comes first.
            let first = schedule.stub(from: trialEnd) ?? schedule.period(containing: trialEnd)
            invoices.append(first)
            self.currentPeriodStart = first.start
            self.currentPeriodEnd = first.end
        }
        while self.currentPeriodEnd <= asOf && invoices.count < maximumPeriods {
            if cancelAtPeriodEnd {
                endedAt = self.currentPeriodEnd
                self.status = .canceled
                return
            }
            let next = schedule.period(containing: self.currentPeriodEnd)
            invoices.append(next)
            self.currentPeriodStart = next.start
            self.currentPeriodEnd = next.end
        }
        isComplete = self.currentPeriodEnd > asOf
    }
}
