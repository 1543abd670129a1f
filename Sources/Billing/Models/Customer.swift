import Common
import Postgres

/// Someone who is billed. `currency` is set by the first subscription; `balanceCents` is
/// credit (negative) or debt (positive) carried to the next invoice.
public struct Customer: Equatable, Sendable, RowDecodable {
    public var id: ID<Customer>
    public var email: String
    public var name: String
    public var metadata: [JSONMember]
    public var currency: String?
    public var balanceCents: Int64
    /// The rates of its invoices, unless a subscription has its own.
    public var taxRateIDs: [ID<TaxRate>]
    /// Its invoices' numbers start with this when numbered per customer (`INVOICE_NUMBERING`):
    /// eight upper-case letters and digits, unique, given at creation and never changed.
    public var invoicePrefix: String
    /// The zone of its subscriptions' calendars (`time.md`), UTC unless given.
    public var zone: Zone
    /// The test clock it lives on (`time.md`), set at creation and never changed.
    public var testClockID: ID<TestClock>?
    public var createdAt: Timestamp

    static let columns = """
        id, email, name, metadata, currency, balance_cents, tax_rate_ids, invoice_prefix, timezone, test_clock_id, \
        created_at
        """

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        email = try r.string()
        name = try r.string()
        metadata = Self.decodeMetadata(try r.string())
        currency = r.optionalString()
        balanceCents = try r.int64()
        taxRateIDs = try r.ids()
        invoicePrefix = try r.string()
        zone = try r.zone()
        testClockID = r.optionalID()
        createdAt = try r.timestamp()
    }

    static func decodeMetadata(_ text: String) -> [JSONMember] {
        guard case .object(let members)? = try? JSONParser.parse(Array(text.utf8)) else { return [] }
        return members
    }

    static func encodeMetadata(_ members: [JSONMember]) -> String {
        var json = JSONWriter(capacity: 64)
        json.value(JSONValue.object(members))
        return String(decoding: json.bytes, as: UTF8.self)
    }
}

extension Customer {
    /// A new random invoice prefix: eight of `0-9A-Z` (36⁸ ≈ 2.8 × 10¹² of them), from the
    /// system's generator.
    public static func randomInvoicePrefix() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var generator = SystemRandomNumberGenerator()
        return String((0..<8).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }

    /// The largest credit or debt a customer may carry (the CHECK of `balance_cents`).
    static let balanceLimit: Int64 = 1_000_000_000_000_000

    /// Refuses a balance beyond the limit with a 422 that names the field, before the
    /// database's CHECK would refuse it without one.
    static func checkBalance(_ balance: Int64) throws {
        guard (-balanceLimit...balanceLimit).contains(balance) else {
            throw BillingError.invalid(
                field: "balance_cents", message: "the customer's balance would pass ±\(balanceLimit)")
        }
    }
}

extension Customer: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("email", email)
        json.field("name", name)
        json.key("metadata")
        json.value(JSONValue.object(metadata))
        json.field("currency", currency)
        json.field("balance_cents", balanceCents)
        json.key("tax_rate_ids")
        json.beginArray()
        for id in taxRateIDs { json.value(id.uuid) }
        json.endArray()
        json.field("invoice_prefix", invoicePrefix)
        json.field("timezone", zone.name)
        json.field("test_clock_id", testClockID)
        json.field("created_at", createdAt)
        json.endObject()
    }
}
