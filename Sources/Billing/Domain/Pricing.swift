import Common

/// Why an invoice was made; mirrors the CHECK on `invoices.billing_reason` (sql/0001).
public enum BillingReason: String, Sendable, CaseIterable {
    case manual
    case subscriptionCreate = "subscription_create"
    case subscriptionCycle = "subscription_cycle"
    case subscriptionUpdate = "subscription_update"
}

/// The meter a usage line prices and the quantity it aggregated over the line's period.
public struct UsageQuantity: Equatable, Sendable {
    public var meterID: ID<Meter>
    public var quantity: ExactDecimal
    public init(meterID: ID<Meter>, quantity: ExactDecimal) {
        self.meterID = meterID
        self.quantity = quantity
    }
}

/// A line as priced, before it is numbered and stored.
public struct PricedLine: Equatable, Sendable {
    public var kind: InvoiceLine.Kind
    public var description: String
    public var amount: Int64
    public var quantity: Int
    /// The price of one unit (nil on proration lines of invoices older than quantities).
    public var unitAmount: Int64?
    public var start: Timestamp
    public var end: Timestamp
    /// The invoice item a line of kind `item` shows.
    public var itemID: ID<InvoiceItem>?
    /// The meter and exact quantity a line of kind `usage` prices.
    public var usage: UsageQuantity?

    public init(
        kind: InvoiceLine.Kind, description: String, amount: Int64, quantity: Int = 1, unitAmount: Int64?,
        start: Timestamp, end: Timestamp, itemID: ID<InvoiceItem>? = nil, usage: UsageQuantity? = nil
    ) {
        self.usage = usage
        self.kind = kind
        self.description = description
        self.amount = amount
        self.quantity = quantity
        self.unitAmount = unitAmount
        self.start = start
        self.end = end
        self.itemID = itemID
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

    /// The largest quantity of a subscription or an item.
    public static let quantityLimit = 1_000_000

    /// `unit × quantity`, or nil past the line limit (a 422 for the caller to name): the
    /// product of two values within their limits fits in 64 bits, so this never traps.
    public static func extended(_ unit: Int64, quantity: Int) -> Int64? {
        let (product, overflow) = unit.multipliedReportingOverflow(by: Int64(quantity))
        guard !overflow, product.magnitude <= lineLimit.magnitude else { return nil }
        return product
    }

    /// The charge for one period of a plan for `quantity` units (checked by the caller).
    public static func periodLine(
        planName: String, interval: BillingInterval, unitAmount: Int64, quantity: Int, start: Timestamp,
        end: Timestamp
    ) -> PricedLine {
        PricedLine(
            kind: .subscription, description: "\(planName) (every \(interval.phrase))",
            amount: unitAmount * Int64(quantity), quantity: quantity, unitAmount: unitAmount, start: start, end: end)
    }

    /// A trial: free, for its whole span.
    public static func trialLine(planName: String, quantity: Int, start: Timestamp, end: Timestamp) -> PricedLine {
        PricedLine(
            kind: .trial, description: "Trial of \(planName)", amount: 0, quantity: quantity, unitAmount: 0,
            start: start, end: end)
    }

    /// The credit for the part of what was billed that a change leaves unused.
    public static func unusedTimeLine(
        planName: String, unitAmount: Int64, quantity: Int, credit: Int64, from start: Timestamp, to end: Timestamp
    ) -> PricedLine {
        PricedLine(
            kind: .proration, description: "Unused time on \(quantity) × \(planName)", amount: -credit,
            quantity: quantity, unitAmount: unitAmount, start: start, end: end)
    }

    /// The charge for the rest of a period on a plan for `quantity` units: the share of
    /// the product, rounded once.
    public static func remainingTimeLine(
        planName: String, unitAmount: Int64, quantity: Int, from start: Timestamp, to end: Timestamp,
        periodStart: Timestamp
    ) -> PricedLine {
        let charge = Proration.share(
            of: unitAmount * Int64(quantity), remaining: end.epochSeconds - start.epochSeconds,
            of: end.epochSeconds - periodStart.epochSeconds)
        return PricedLine(
            kind: .proration, description: "Remaining time on \(quantity) × \(planName)", amount: charge,
            quantity: quantity, unitAmount: unitAmount, start: start, end: end)
    }

    /// An invoice item as a line of the invoice that takes it.
    public static func itemLine(_ item: InvoiceItem) -> PricedLine {
        PricedLine(
            kind: .item, description: item.description, amount: item.amountCents, quantity: item.quantity,
            unitAmount: item.unitAmountCents, start: item.periodStart, end: item.periodEnd, itemID: item.id)
    }

    /// The totals of an invoice of `lines` for a customer whose balance is `balance`, in the
    /// one order of §7: subtotal; the discount, on the non-negative sum of the lines it
    /// applies to (`discounted`: a subscription's lines, not items); taxable = subtotal −
    /// discount; one rounding per rate per invoice, never per line (`rates` all exclusive or
    /// all inclusive: the caller refuses a mix); total = taxable + exclusive tax; then the
    /// balance. Refused with a 422 naming `amount_cents` where a line, the subtotal or the
    /// total would pass its limit (checked here, before a CHECK would refuse it unnamed).
    public static func totals(
        of lines: [PricedLine], discount: DiscountTerms? = nil,
        discounted: (PricedLine) -> Bool = { $0.kind != .item }, rates: [TaxTerms] = [], balance: Int64
    ) throws(BillingError) -> InvoiceTotals {
        var subtotal: Int64 = 0
        var base: Int64 = 0
        for line in lines {
            guard line.amount.magnitude <= lineLimit.magnitude else {
                throw .invalid(field: "amount_cents", message: "an invoice line would pass ±10^12")
            }
            // An invoice may take any number of pending items: the sums are checked, not trusted.
            let (sum, overflow) = subtotal.addingReportingOverflow(line.amount)
            guard !overflow, sum.magnitude <= subtotalLimit.magnitude else {
                throw .invalid(field: "amount_cents", message: "the invoice's subtotal would pass ±10^14")
            }
            subtotal = sum
            if discounted(line) { base += line.amount }
        }
        base = max(0, base)
        let off: Int64
        switch discount {
        case nil: off = 0
        case .amountOff(let amount)?: off = min(max(0, amount), base)
        case .percentOff(let percent)?:
            off = min(base, roundedShare(of: base, times: percent.tenThousandths, over: 100 * Percentage.scale))
        }
        let taxable = subtotal - off
        let inclusiveSum = rates.filter(\.inclusive).reduce(0) { $0 + $1.percentage.tenThousandths }
        var total = taxable
        let taxes = rates.map { rate in
            let amount =
                rate.inclusive
                ? roundedShare(
                    of: taxable, times: rate.percentage.tenThousandths, over: 100 * Percentage.scale + inclusiveSum)
                : roundedShare(of: taxable, times: rate.percentage.tenThousandths, over: 100 * Percentage.scale)
            if !rate.inclusive { total += amount }
            return AppliedTax(terms: rate, taxableAmount: taxable, amount: amount)
        }
        let inclusiveTax = taxes.filter(\.terms.inclusive).reduce(0) { $0 + $1.amount }
        let applied = taxes.map { tax in
            var tax = tax
            if tax.terms.inclusive { tax.taxableAmount = taxable - inclusiveTax }
            return tax
        }
        guard total.magnitude <= subtotalLimit.magnitude else {
            throw .invalid(field: "amount_cents", message: "the invoice's total would pass ±10^14")
        }
        return InvoiceTotals(subtotal: subtotal, discount: off, taxes: applied, total: total, balance: balance)
    }
}
