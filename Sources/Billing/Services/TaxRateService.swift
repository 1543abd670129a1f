import Common
import Postgres

/// Tax rates (`invoicing.md` §6) and the rates an invoice is taxed with: its
/// subscription's if it has any, else its customer's.
public enum TaxRateService {
    public struct Create: Sendable {
        public var displayName: String
        public var description: String?
        public var percentage: Percentage
        public var inclusive: Bool
        public var country: String?
        public init(
            displayName: String, description: String?, percentage: Percentage, inclusive: Bool, country: String?
        ) {
            self.displayName = displayName
            self.description = description
            self.percentage = percentage
            self.inclusive = inclusive
            self.country = country
        }
    }

    public struct Update: Sendable {
        public var displayName: String?
        public var description: String?
        public var isActive: Bool?
        public init(displayName: String?, description: String?, isActive: Bool?) {
            self.displayName = displayName
            self.description = description
            self.isActive = isActive
        }
    }

    /// At most this many rates on a customer or a subscription.
    public static let maximumRates = 5

    public static func create(_ input: Create, now: Timestamp, on db: Connection) throws -> TaxRate {
        let rate = try TaxRate(
            row: try db.query(
                """
                INSERT INTO tax_rates (id, display_name, description, percentage, inclusive, country, created_at) \
                VALUES (\(ID<TaxRate>.generate()), \(input.displayName), \(input.description), \
                \(input.percentage.description)::numeric, \(input.inclusive), \(input.country), \(now)) \
                RETURNING \(unsafeSQL: TaxRate.columns)
                """)[0])
        try EventLog.append(.taxRateCreated, rate, at: now, on: db)
        return rate
    }

    public static func get(_ id: ID<TaxRate>, on db: Connection) throws -> TaxRate {
        guard let row = try db.query("SELECT \(unsafeSQL: TaxRate.columns) FROM tax_rates WHERE id = \(id)").first
        else { throw BillingError.notFound("no such tax rate") }
        return try TaxRate(row: row)
    }

    public static func list(isActive: Bool?, page: PageRequest, on db: Connection) throws -> Page<TaxRate> {
        var query = ListQuery(table: "tax_rates", columns: TaxRate.columns)
        query.filter("is_active", isActive)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: TaxRate.init(row:))
    }

    public static func update(_ id: ID<TaxRate>, _ input: Update, now: Timestamp, on db: Connection) throws -> TaxRate {
        guard
            let row = try db.query(
                """
                UPDATE tax_rates SET display_name = coalesce(\(input.displayName), display_name), \
                description = coalesce(\(input.description), description), \
                is_active = coalesce(\(input.isActive), is_active) WHERE id = \(id) \
                RETURNING \(unsafeSQL: TaxRate.columns)
                """
            ).first
        else { throw BillingError.notFound("no such tax rate") }
        let rate = try TaxRate(row: row)
        try EventLog.append(.taxRateUpdated, rate, at: now, on: db)
        return rate
    }

    /// Checks rates given to a customer or a subscription: at most five, distinct,
    /// existing, active, and all inclusive or all exclusive (a 422 naming `tax_rate_ids`).
    static func checkAssignable(_ ids: [ID<TaxRate>], on db: Connection) throws {
        func refuse(_ message: String) -> BillingError { .invalid(field: "tax_rate_ids", message: message) }
        guard ids.count <= maximumRates else { throw refuse("must have at most \(maximumRates) rates") }
        guard Set(ids).count == ids.count else { throw refuse("must not name a rate twice") }
        guard !ids.isEmpty else { return }
        let rates = try db.query(
            "SELECT \(unsafeSQL: TaxRate.columns) FROM tax_rates WHERE id = ANY(\(SQLArray(ids))::uuid[])"
        ).rows.map(TaxRate.init(row:))
        guard rates.count == ids.count else { throw refuse("names a tax rate that does not exist") }
        guard rates.allSatisfy(\.isActive) else { throw refuse("names a tax rate that is not active") }
        guard Set(rates.map(\.inclusive)).count == 1 else {
            throw refuse("must be all inclusive or all exclusive, never a mix")
        }
    }

    /// The terms of the rates `ids`, in their order.
    static func terms(ofRates ids: [ID<TaxRate>], on db: Connection) throws -> [TaxTerms] {
        let terms = try terms(of: ids.map(\.uuid), on: db)
        return ids.compactMap { terms[$0.uuid] }
    }

    /// The terms of the rates `ids`, by id (rates that were given once and are
    /// inactive now still apply to what they were given to).
    static func terms(of ids: [UUID128], on db: Connection) throws -> [UUID128: TaxTerms] {
        guard !ids.isEmpty else { return [:] }
        var terms: [UUID128: TaxTerms] = [:]
        for rate in try db.query(
            "SELECT \(unsafeSQL: TaxRate.columns) FROM tax_rates WHERE id = ANY(\(SQLArray(ids))::uuid[])"
        ).rows.map(TaxRate.init(row:)) {
            terms[rate.id.uuid] = rate.terms
        }
        return terms
    }
}
