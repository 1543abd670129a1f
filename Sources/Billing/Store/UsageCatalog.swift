import Common
import Postgres
import Synchronization

/// What never changes about plans and meters, cached per process: a plan's charges, and a
/// meter's code, aggregation and properties. Reading current usage then costs one point
/// read of the subscription and its window's totals (measured: the query joining plans and
/// meters in was 2.1× the cost of `GET /customers/{id}`'s, and the route 0.42 of its rate).
/// A meter's name and `is_active` do change: whoever needs them reads the meter itself.
enum UsageCatalog {
    private static let charges = Mutex<[ID<Plan>: [UsageCharge]]>([:])
    private static let meters = Mutex<[ID<Meter>: Meter]>([:])

    /// The charges of a plan.
    static func charges(of plan: ID<Plan>, on db: Connection) throws -> [UsageCharge] {
        if let known = Self.charges.withLock({ $0[plan] }) { return known }
        guard let row = try db.query("SELECT charges FROM plans WHERE id = \(plan)").first else {
            throw BillingError.notFound("no such plan")
        }
        var r = RowReader(row)
        let decoded = try UsageCharge.decodeStored(try r.string())
        Self.charges.withLock { $0[plan] = decoded }
        return decoded
    }

    /// The meters of `ids`, their name and state as they were when first read.
    static func meters(_ ids: [ID<Meter>], on db: Connection) throws -> [ID<Meter>: Meter] {
        var found = Self.meters.withLock { known in ids.compactMap { known[$0] } }
        if found.count < ids.count {
            let fetched = try MeterService.byID(ids, on: db)
            Self.meters.withLock { known in for (id, meter) in fetched { known[id] = meter } }
            found = Array(fetched.values)
        }
        return Dictionary(found.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
