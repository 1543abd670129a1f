/// Settings of the billing rules, from the environment (`INVOICE_DUE_DAYS`, …).
public struct BillingConfig: Sendable {
    /// Days after a period's start until its invoice is due.
    public var invoiceDueDays: Int
    /// Days past `due_at` until an unpaid subscription is canceled.
    public var dunningGraceDays: Int

    public init(invoiceDueDays: Int = 7, dunningGraceDays: Int = 14) {
        self.invoiceDueDays = invoiceDueDays
        self.dunningGraceDays = dunningGraceDays
    }

    /// Reads the settings from environment variables, keeping defaults for missing or invalid ones.
    public static func fromEnvironment(_ environment: [String: String]) -> BillingConfig {
        var config = BillingConfig()
        if let days = environment["INVOICE_DUE_DAYS"].flatMap({ Int($0) }), (0...365).contains(days) {
            config.invoiceDueDays = days
        }
        if let days = environment["DUNNING_GRACE_DAYS"].flatMap({ Int($0) }), (0...365).contains(days) {
            config.dunningGraceDays = days
        }
        return config
    }
}
