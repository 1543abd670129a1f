/// How an invoice's lines and the customer's balance combine into the amount due.
///
/// `balance` is the customer's running balance: negative is credit owed to the customer,
/// positive is debt. The invoice consumes as much of it as it can; a negative total is
/// never charged but carried to the balance as credit.
public struct InvoiceTotals: Equatable, Sendable {
    public var subtotal: Int64
    public var balanceApplied: Int64
    public var amountDue: Int64
    public var newBalance: Int64

    public init(subtotal: Int64, balance: Int64) {
        self.subtotal = subtotal
        amountDue = max(0, subtotal + balance)
        balanceApplied = amountDue - subtotal
        newBalance = balance - balanceApplied
    }
}
