/// Settings of the billing rules, from the environment (`INVOICE_DUE_DAYS`, …).
public struct BillingConfig: Sendable {
    /// Days after a period's start until its invoice is due.
    public var invoiceDueDays: Int
    /// Days past `due_at` until an unpaid subscription is canceled.
    public var dunningGraceDays: Int
    /// The series invoice and credit-note numbers are taken from.
    public var numbering: InvoiceNumbering
    /// Seconds a closed usage window's draft waits for late events (`USAGE_GRACE_SECONDS`).
    public var usageGraceSeconds: Int64 = 3600
    public var webhooks = WebhookSettings()

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
        config.webhooks = try WebhookSettings.fromEnvironment(environment)
        if let days = environment["INVOICE_DUE_DAYS"].flatMap({ Int($0) }), (0...365).contains(days) {
            config.invoiceDueDays = days
        }
        if let seconds = environment["USAGE_GRACE_SECONDS"].flatMap({ Int64($0) }), (0...35 * 86_400).contains(seconds)
        {
            config.usageGraceSeconds = seconds
        }
        if let days = environment["DUNNING_GRACE_DAYS"].flatMap({ Int($0) }), (0...365).contains(days) {
            config.dunningGraceDays = days
        }
        return config
    }
}

/// How webhooks are delivered (`webhooks.md`): `WEBHOOK_ALLOW_HTTP=1` and
/// `WEBHOOK_ALLOW_PRIVATE=1` (local development and tests only), `WEBHOOK_RETRY_SCHEDULE`
/// (comma-separated seconds) and `WEBHOOK_DISABLE_AFTER` (seconds).
public struct WebhookSettings: Sendable {
    /// `http://` URLs besides `https://`.
    public var allowHTTP = false
    /// Loopback, private and link-local addresses: never in production (SSRF).
    public var allowPrivate = false
    /// The wait before each retry, in seconds: 1 + this many attempts in all, each wait
    /// with ±10% jitter (1 min, 5 min, 30 min, 2 h, 5 h, 10 h × 4, 12 h: about three days).
    public var retrySchedule = [60, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 43200]
    /// An endpoint whose deliveries have all failed for this long is disabled.
    public var disableAfterSeconds = 3 * 86_400
    /// How long a claimed delivery is its sender's (`WEBHOOK_LEASE_SECONDS`): a sender that
    /// died leaves its deliveries to the others after this. Longer than an attempt (10 s).
    public var leaseSeconds = 60

    public init() {}

    static func fromEnvironment(_ environment: [String: String]) throws -> WebhookSettings {
        var settings = WebhookSettings()
        settings.allowHTTP = environment["WEBHOOK_ALLOW_HTTP"] == "1"
        settings.allowPrivate = environment["WEBHOOK_ALLOW_PRIVATE"] == "1"
        if let text = environment["WEBHOOK_RETRY_SCHEDULE"], !text.isEmpty {
            let waits = text.split(separator: ",", omittingEmptySubsequences: false).map {
                Int($0.trimmingPrefix(" "))
            }
            guard (1...50).contains(waits.count), waits.allSatisfy({ ($0 ?? -1) >= 0 && ($0 ?? 0) <= 30 * 86_400 })
            else {
                throw BillingConfig.InvalidSetting(
                    description:
                        "WEBHOOK_RETRY_SCHEDULE must be 1 to 50 comma-separated seconds (0…2592000), not \(text)")
            }
            settings.retrySchedule = waits.compactMap { $0 }
        }
        if let text = environment["WEBHOOK_LEASE_SECONDS"], !text.isEmpty {
            guard let seconds = Int(text), (11...3600).contains(seconds) else {
                throw BillingConfig.InvalidSetting(
                    description: "WEBHOOK_LEASE_SECONDS must be 11…3600 (longer than an attempt), not \(text)")
            }
            settings.leaseSeconds = seconds
        }
        if let text = environment["WEBHOOK_DISABLE_AFTER"], !text.isEmpty {
            guard let seconds = Int(text), seconds >= 0 else {
                throw BillingConfig.InvalidSetting(description: "WEBHOOK_DISABLE_AFTER must be seconds, not \(text)")
            }
            settings.disableAfterSeconds = seconds
        }
        return settings
    }
}
