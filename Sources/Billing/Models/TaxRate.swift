import Common
import Postgres

/// A tax rate (`invoicing.md` §6). Its percentage and inclusiveness never change (a
/// trigger refuses it too): an invoice taxed with it keeps meaning what it meant.
public struct TaxRate: Equatable, Sendable, RowDecodable {
    public var id: ID<TaxRate>
    public var displayName: String
    public var description: String?
    public var percentage: Percentage
    public var inclusive: Bool
    public var country: String?
    public var isActive: Bool
    public var createdAt: Timestamp

    /// The percentage is read as exact text (`numeric` prints every digit of its scale).
    static let columns = "id, display_name, description, percentage::text, inclusive, country, is_active, created_at"

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        displayName = try r.string()
        description = r.optionalString()
        percentage = try TaxRate.percentage(try r.string())
        inclusive = try r.bool()
        country = r.optionalString()
        isActive = try r.bool()
        createdAt = try r.timestamp()
    }

    /// `numeric(6,4)` text, `19.0000`: four decimals at most, below 100.
    static func percentage(_ text: String) throws -> Percentage {
        guard let percentage = Percentage(parsing: text, maxDecimals: 4, in: 0...999_999) else {
            throw PostgresError(kind: .decoding, detail: "not a percentage: \(text)")
        }
        return percentage
    }

    /// The rate as an invoice applies it.
    public var terms: TaxTerms {
        TaxTerms(rateID: id.uuid, displayName: displayName, percentage: percentage, inclusive: inclusive)
    }
}

extension TaxRate: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("id", id)
        json.field("display_name", displayName)
        json.field("description", description)
        json.field("percentage", percentage.description)
        json.field("inclusive", inclusive)
        json.field("country", country)
        json.field("is_active", isActive)
        json.field("created_at", createdAt)
        json.endObject()
    }
}

extension AppliedTax: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("tax_rate_id", terms.rateID)
        json.field("display_name", terms.displayName)
        json.field("percentage", terms.percentage.description)
        json.field("inclusive", terms.inclusive)
        json.field("taxable_amount_cents", taxableAmount)
        json.field("amount_cents", amount)
        json.endObject()
    }
}
