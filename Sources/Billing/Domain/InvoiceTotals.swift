/// How an invoice's lines and the customer's balance combine into the amount due
/// (`invoicing.md` §7): subtotal, discount, tax, total, then the balance.
///
/// `balance` is the customer's running balance: negative is credit owed to the customer,
/// positive is debt. The invoice consumes as much of it as it can; a negative total is
/// never charged but carried to the balance as credit.
public struct InvoiceTotals: Equatable, Sendable {
    public var subtotal: Int64
    public var discount: Int64
    public var tax: Int64
    public var total: Int64
    public var balanceApplied: Int64
    public var amountDue: Int64
    /// The customer's balance once this invoice is finalized.
    public var newBalance: Int64

    /// An invoice without discount or tax, for a customer whose balance is `balance`.
    public init(subtotal: Int64, balance: Int64) {
        self.subtotal = subtotal
        discount = 0
        tax = 0
        total = subtotal
        amountDue = max(0, total + balance)
        balanceApplied = amountDue - total
        newBalance = balance - balanceApplied
    }

    /// Totals as stored: the balance they moved is history, not known here.
    init(subtotal: Int64, discount: Int64, tax: Int64, total: Int64, balanceApplied: Int64, amountDue: Int64) {
        self.subtotal = subtotal
        self.discount = discount
        self.tax = tax
        self.total = total
        self.balanceApplied = balanceApplied
        self.amountDue = amountDue
        newBalance = 0
    }
}
