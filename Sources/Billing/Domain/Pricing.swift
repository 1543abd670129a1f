import Common

/// Why an invoice was made; mirrors the CHECK on `invoices.billing_reason` (sql/0001).
public enum BillingReason: String, Sendable, CaseIterable {
    case subscriptionCreate = "subscription_create"
    case subscriptionCycle = "subscription_cycle"
    case subscriptionUpdate = "subscription_update"
}

/// A line as priced, before it is numbered and stored.
public struct PricedLine: Equatable, Sendable {
    public var kind: InvoiceLine.Kind
    public var description: String
    public var amount: Int64
    public var start: Timestamp
    public var end: Timestamp

    public init(kind: InvoiceLine.Kind, description: String, amount: Int64, start: Timestamp, end: Timestamp) {
        self.kind = kind
        self.description = description
        self.amount = amount
        self.start = start
        self.end = end
    }
}

/// The one pure place where billing periods become lines and lines become an invoice's
/// totals, in the order of `invoicing.md` §7: lines, subtotal, (discount and tax to come
/// here), total, then the customer's balance. Every invoice the service makes — a start, a
/// renewal, a plan change — is priced through it.
public enum Pricing {
    /// The limits of the CHECKs on a line's and an invoice's amounts (sql/0001).
    public static let lineLimit: Int64 = 1_000_000_000_000
    public static let subtotalLimit: Int64 = 100_000_000_000_000

    /// The charge for one period of a plan.
    public static func periodLine(
        planName: String, interval: BillingInterval, amount: Int64, start: Timestamp, end: Timestamp
    ) -> PricedLine {
        PricedLine(
            kind: .subscription, description: "\(planName) (every \(interval.phrase))", amount: amount, start: start,
            end: end)
    }

    /// A trial: free, for its whole span.
    public static func trialLine(planName: String, start: Timestamp, end: Timestamp) -> PricedLine {
        PricedLine(kind: .trial, description: "Trial of \(planName)", amount: 0, start: start, end: end)
    }

    /// The credit for the part of what was billed that a change leaves unused.
    public static func unusedTimeLine(planName: String, credit: Int64, from start: Timestamp, to end: Timestamp)
        -> PricedLine
    {
        PricedLine(kind: .proration, description: "Unused time on \(planName)", amount: -credit, start: start, end: end)
    }

    /// The charge for the rest of a period on a new plan.
    public static func remainingTimeLine(planName: String, charge: Int64, from start: Timestamp, to end: Timestamp)
        -> PricedLine
    {
        PricedLine(
            kind: .proration, description: "Remaining time on \(planName)", amount: charge, start: start, end: end)
    }

    /// The totals of an invoice of `lines` for a customer whose balance is `balance`:
    /// refused with a 422 naming `amount_cents` where a line or the subtotal would pass
    /// its limit (checked here, before the database's CHECK would refuse it without a name).
    public static func totals(of lines: [PricedLine], balance: Int64) throws(BillingError) -> InvoiceTotals {
        var subtotal: Int64 = 0
        for line in lines {
            guard line.amount.magnitude <= lineLimit.magnitude else {
                throw .invalid(field: "amount_cents", message: "an invoice line would pass ±10^12")
            }
            // Cannot overflow: each term is at most 10^12 and an invoice has a handful of lines.
            subtotal += line.amount
        }
        guard subtotal.magnitude <= subtotalLimit.magnitude else {
            throw .invalid(field: "amount_cents", message: "the invoice's subtotal would pass ±10^14")
        }
        return InvoiceTotals(subtotal: subtotal, balance: balance)
    }
}
