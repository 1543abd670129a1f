import Common
import Postgres

/// Creates, reads and updates plans. Price, currency and interval are immutable.
public enum PlanService {
    public struct Create: Sendable {
        public var code: String
        public var name: String
        public var amountCents: Int64
        public var currency: String
        public var interval: BillingInterval
        public var trialDays: Int
        public var billingCycle: BillingCycle
        public var charges: [UsageCharge]
        public init(
            code: String, name: String, amountCents: Int64, currency: String, interval: BillingInterval, trialDays: Int,
            billingCycle: BillingCycle = .anniversary, charges: [UsageCharge] = []
        ) {
            self.billingCycle = billingCycle
            self.charges = charges
            self.code = code
            self.name = name
            self.amountCents = amountCents
            self.currency = currency
            self.interval = interval
            self.trialDays = trialDays
        }
    }

    public struct Update: Sendable {
        public var name: String?
        public var isActive: Bool?
        public init(name: String?, isActive: Bool?) {
            self.name = name
            self.isActive = isActive
        }
    }

    public static func create(_ input: Create, now: Timestamp, on db: Connection) throws -> Plan {
        let meters = input.charges.map(\.meterID)
        if try MeterService.byID(meters, on: db).count != Set(meters).count {
            throw BillingError.notFound("no such meter")
        }
        let result = try mapUniqueViolation(to: .conflict("a plan with this code already exists", slug: "code-taken")) {
            try db.query(
                """
                INSERT INTO plans (id, code, name, amount_cents, currency, interval, interval_count, trial_days, \
                billing_cycle, is_active, created_at, charges, charged_meter_ids) VALUES (\(ID<Plan>.generate()), \
                \(input.code), \(input.name), \(input.amountCents), \(input.currency), \(input.interval.unit.rawValue), \
                \(input.interval.count), \(input.trialDays), \(input.billingCycle.rawValue), true, \(now), \
                \(input.charges.jsonString), \(SQLArray(meters))::uuid[]) RETURNING \(unsafeSQL: Plan.columns)
                """)
        }
        let plan = try Plan(row: result[0])
        try EventLog.append(.planCreated, plan, at: now, on: db)
        return plan
    }

    public static func get(_ id: ID<Plan>, on db: Connection) throws -> Plan {
        let result = try db.query("SELECT \(unsafeSQL: Plan.columns) FROM plans WHERE id = \(id)")
        guard let row = result.first else { throw BillingError.notFound("no such plan") }
        return try Plan(row: row)
    }

    public static func list(isActive: Bool?, page: PageRequest, on db: Connection) throws -> Page<Plan> {
        var query = ListQuery(table: "plans", columns: Plan.columns)
        query.filter("is_active", isActive)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Plan.init(row:))
    }

    public static func update(_ id: ID<Plan>, _ input: Update, now: Timestamp, on db: Connection) throws -> Plan {
        let result = try db.query(
            """
            UPDATE plans SET name = coalesce(\(input.name), name), is_active = coalesce(\(input.isActive), is_active) \
            WHERE id = \(id) RETURNING \(unsafeSQL: Plan.columns)
            """)
        guard let row = result.first else { throw BillingError.notFound("no such plan") }
        let plan = try Plan(row: row)
        try EventLog.append(.planUpdated, plan, at: now, on: db)
        return plan
    }
}
