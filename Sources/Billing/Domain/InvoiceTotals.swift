import Common

/// How an invoice's lines, its discount, its tax rates and the customer's balance combine
/// into the amount due (`invoicing.md` §7): subtotal, discount, taxable, taxes, total,
/// then the balance.
///
/// `balance` is the customer's running balance: negative is credit owed to the customer,
/// positive is debt. The invoice consumes as much of it as it can; a negative total is
/// never charged but carried to the balance as credit.
public struct InvoiceTotals: Equatable, Sendable {
    public var subtotal: Int64
    public var discount: Int64
    public var tax: Int64
    /// One entry per rate, in the order the rates were given.
    public var taxes: [AppliedTax]
    public var total: Int64
    public var balanceApplied: Int64
    public var amountDue: Int64
    /// The customer's balance once this invoice is finalized.
    public var newBalance: Int64

    /// An invoice without discount or tax, for a customer whose balance is `balance`.
    public init(subtotal: Int64, balance: Int64) {
        self.init(subtotal: subtotal, discount: 0, taxes: [], total: subtotal, balance: balance)
    }

    init(subtotal: Int64, discount: Int64, taxes: [AppliedTax], total: Int64, balance: Int64) {
        self.subtotal = subtotal
        self.discount = discount
        self.taxes = taxes
        tax = taxes.reduce(0) { $0 + $1.amount }
        self.total = total
        amountDue = max(0, total + balance)
        balanceApplied = amountDue - total
        newBalance = balance - balanceApplied
    }

    /// Totals as stored: the balance they moved is history, not known here.
    init(
        subtotal: Int64, discount: Int64, tax: Int64, taxes: [AppliedTax], total: Int64, balanceApplied: Int64,
        amountDue: Int64
    ) {
        self.subtotal = subtotal
        self.discount = discount
        self.tax = tax
        self.taxes = taxes
        self.total = total
        self.balanceApplied = balanceApplied
        self.amountDue = amountDue
        newBalance = 0
    }
}

/// A tax rate as an invoice applies it.
public struct TaxTerms: Equatable, Sendable {
    public var rateID: UUID128
    public var displayName: String
    public var percentage: Percentage
    public var inclusive: Bool

    public init(rateID: UUID128, displayName: String, percentage: Percentage, inclusive: Bool) {
        self.rateID = rateID
        self.displayName = displayName
        self.percentage = percentage
        self.inclusive = inclusive
    }
}

/// One rate's tax on one invoice: `taxableAmount` is the amount before tax (for an
/// inclusive rate, the taxable amount less all the inclusive tax in it).
public struct AppliedTax: Equatable, Sendable {
    public var terms: TaxTerms
    public var taxableAmount: Int64
    public var amount: Int64

    public init(terms: TaxTerms, taxableAmount: Int64, amount: Int64) {
        self.terms = terms
        self.taxableAmount = taxableAmount
        self.amount = amount
    }
}

/// A discount as §5 prices it: a share of its base, or a fixed amount of it.
public enum DiscountTerms: Equatable, Sendable {
    case percentOff(Percentage)
    case amountOff(Int64)
}
