/// Settings of the billing rules, from the environment (`INVOICE_DUE_DAYS`, …).
public struct BillingConfig: Sendable {
    /// Days after a period's start until its invoice is due.
    public var invoiceDueDays: Int
    /// Days past `due_at` until an unpaid subscription is canceled.
    public var dunningGraceDays: Int
    /// The series invoice and credit-note numbers are taken from.
    public var numbering: InvoiceNumbering

    public init(invoiceDueDays: Int = 7, dunningGraceDays: Int = 14, numbering: InvoiceNumbering = .global) {
        self.invoiceDueDays = invoiceDueDays
        self.dunningGraceDays = dunningGraceDays
        self.numbering = numbering
    }

    /// A setting whose value cannot be used: the process refuses to start rather than
    /// number invoices in a series the operator did not ask for.
    public struct InvalidSetting: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the settings from environment variables, keeping defaults for missing or
    /// invalid day counts; an unknown `INVOICE_NUMBERING` is an error.
    public static func fromEnvironment(_ environment: [String: String]) throws -> BillingConfig {
        var config = BillingConfig()
        if let text = environment["INVOICE_NUMBERING"], !text.isEmpty {
            guard let numbering = InvoiceNumbering(rawValue: text) else {
                let known = InvoiceNumbering.allCases.map(\.rawValue).joined(separator: " or ")
                throw InvalidSetting(description: "INVOICE_NUMBERING must be \(known), not \(text)")
            }
            config.numbering = numbering
        }
        if let days = environment["INVOICE_DUE_DAYS"].flatMap({ Int($0) }), (0...365).contains(days) {
            config.invoiceDueDays = days
        }
        if let days = environment["DUNNING_GRACE_DAYS"].flatMap({ Int($0) }), (0...365).contains(days) {
            config.dunningGraceDays = days
        }
        return config
    }
}
