#if canImport(Glibc)
    import Glibc
#endif

/// Who issues the documents and where their pages live (documents.md), read from the
/// environment once per process: `BILLING_PUBLIC_URL`, `BILLING_SELLER_NAME`,
/// `BILLING_SELLER_ADDRESS` (lines separated by newlines or a literal `\n`),
/// `BILLING_SELLER_EMAIL` and `BILLING_SELLER_TAX_ID`.
public struct DocumentSettings: Sendable {
    /// Where hosted pages are reached, without a trailing slash.
    public var publicURL: String
    public var sellerName: String
    public var sellerAddress: [String]
    public var sellerEmail: String?
    public var sellerTaxID: String?

    public static let shared = DocumentSettings(environment: { name in getenv(name).map { String(cString: $0) } })

    public init(environment: (String) -> String?) {
        func setting(_ name: String) -> String? {
            guard let value = environment(name), !value.isEmpty else { return nil }
            return value
        }
        var url = setting("BILLING_PUBLIC_URL") ?? "http://127.0.0.1:8080"
        while url.hasSuffix("/") { url.removeLast() }
        publicURL = url
        sellerName = setting("BILLING_SELLER_NAME") ?? "Billing"
        sellerAddress = (setting("BILLING_SELLER_ADDRESS") ?? "").split(separator: "\n")
            .flatMap { $0.split(separator: "\\n") }.map(String.init)
        sellerEmail = setting("BILLING_SELLER_EMAIL")
        sellerTaxID = setting("BILLING_SELLER_TAX_ID")
    }
}
