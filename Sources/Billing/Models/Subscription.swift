import Common
import Postgres

/// A customer's subscription to a plan and where it stands in its billing calendar.
public struct Subscription: Equatable, Sendable, RowDecodable {
    public enum Status: String, CaseIterable, Sendable {
        case trialing, active
        case pastDue = "past_due"
        case canceled
    }

    public var id: ID<Subscription>
    public var customerID: ID<Customer>
    public var planID: ID<Plan>
    public var quantity: Int
    public var status: Status
    public var startAt: Timestamp
    public var billingCycleAnchor: Timestamp
    public var currentPeriodStart: Timestamp
    public var currentPeriodEnd: Timestamp
    public var trialEnd: Timestamp?
    public var cancelAtPeriodEnd: Bool
    public var canceledAt: Timestamp?
    public var endedAt: Timestamp?
    public var cancellationReason: String?
    /// Its invoices' tax rates; none: its customer's.
    public var taxRateIDs: [ID<TaxRate>]
    public var discount: SubscriptionDiscount?
    /// Its customer's time zone, copied at creation: the zone of its calendar. A customer
    /// with a live subscription cannot change zones, so the two never differ while it lives.
    public var zone: Zone
    /// Set while collection is paused (`time.md`).
    public var pauseCollection: PauseCollection?
    /// A change of plan or quantity scheduled at the period end (`time.md`).
    public var pendingUpdate: PendingUpdate?
    public var createdAt: Timestamp
    /// Where the usage it counts now starts (`usage.md`): its current period's start, or
    /// the instant its plan last changed within it.
    public var usageWindowStart: Timestamp

    static let columns = """
        id, customer_id, plan_id, quantity, status, start_at, billing_cycle_anchor, current_period_start, \
        current_period_end, trial_end, cancel_at_period_end, canceled_at, ended_at, cancellation_reason, tax_rate_ids, \
        discount_coupon_id, discount_coupon_code, discount_start, discount_end, discount_periods_applied, timezone, \
        pause_behavior, pause_resumes_at, pending_plan_id, pending_quantity, pending_effective_at, created_at, \
        usage_window_start
        """

    /// The same columns qualified with the alias `s`, for joins.
    static let qualifiedColumns = qualified(columns, with: "s")

    public init(_ r: inout RowReader) throws {
        id = try r.id()
        customerID = try r.id()
        planID = try r.id()
        quantity = try r.int()
        status = try r.value()
        startAt = try r.timestamp()
        billingCycleAnchor = try r.timestamp()
        currentPeriodStart = try r.timestamp()
        currentPeriodEnd = try r.timestamp()
        trialEnd = r.optionalTimestamp()
        cancelAtPeriodEnd = try r.bool()
        canceledAt = r.optionalTimestamp()
        endedAt = r.optionalTimestamp()
        cancellationReason = r.optionalString()
        taxRateIDs = try r.ids()
        let couponID: ID<Coupon>? = r.optionalID()
        let code = r.optionalString()
        let start = r.optionalTimestamp()
        let end = r.optionalTimestamp()
        let applied = try r.int()
        if let couponID, let code, let start {
            discount = SubscriptionDiscount(
                couponID: couponID, couponCode: code, start: start, end: end, periodsApplied: applied)
        }
        zone = try r.zone()
        let pauseBehavior: PauseCollection.Behavior? = r.optionalValue()
        let resumesAt = r.optionalTimestamp()
        pauseCollection = pauseBehavior.map { PauseCollection(behavior: $0, resumesAt: resumesAt) }
        let pendingPlan: ID<Plan>? = r.optionalID()
        let pendingQuantity = r.optionalInt()
        let effectiveAt = r.optionalTimestamp()
        if let pendingPlan, let pendingQuantity, let effectiveAt {
            pendingUpdate = PendingUpdate(planID: pendingPlan, quantity: pendingQuantity, effectiveAt: effectiveAt)
        }
        createdAt = try r.timestamp()
        usageWindowStart = r.optionalTimestamp() ?? currentPeriodStart
    }
}

/// Paused collection (`time.md`): what becomes of the invoices made while paused, and when
/// the pause ends by itself.
public struct PauseCollection: Equatable, Sendable, JSONWritable {
    public enum Behavior: String, CaseIterable, Sendable {
        case void
        case keepAsDraft = "keep_as_draft"
        case markUncollectible = "mark_uncollectible"
    }

    public var behavior: Behavior
    public var resumesAt: Timestamp?

    public init(behavior: Behavior, resumesAt: Timestamp?) {
        self.behavior = behavior
        self.resumesAt = resumesAt
    }

    /// What becomes of the invoice of a period starting at `start`: the pause's behavior,
    /// unless the pause has ended by then.
    public func behavior(forPeriodStarting start: Timestamp) -> Behavior? {
        resumesAt.map { start < $0 } ?? true ? behavior : nil
    }

    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("behavior", behavior.rawValue)
        json.field("resumes_at", resumesAt)
        json.endObject()
    }
}

/// A change of plan or quantity that the billing run applies at `effectiveAt`, the end of the
/// period it was scheduled in: the next cycle's invoice is on the new terms, with no
/// proration (a downgrade at period end).
public struct PendingUpdate: Equatable, Sendable, JSONWritable {
    public var planID: ID<Plan>
    public var quantity: Int
    public var effectiveAt: Timestamp

    public init(planID: ID<Plan>, quantity: Int, effectiveAt: Timestamp) {
        self.planID = planID
        self.quantity = quantity
        self.effectiveAt = effectiveAt
    }

    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("plan_id", planID)
        json.field("quantity", quantity)
        json.field("effective_at", effectiveAt)
        json.endObject()
    }
}

extension Subscription {
    /// Its calendar of periods on a plan billed every `interval`.
    public func schedule(_ interval: BillingInterval) -> BillingSchedule {
        BillingSchedule(anchor: billingCycleAnchor, interval: interval, zone: zone)
    }
}

extension Subscription: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginObject()
        writeFields(to: &json)
        json.endObject()
    }

    /// The fields without the enclosing braces, so that a response can add its own.
    func writeFields(to json: inout JSONWriter) {
        json.field("id", id)
        json.field("customer_id", customerID)
        json.field("plan_id", planID)
        json.field("quantity", quantity)
        json.field("status", status.rawValue)
        json.field("start_at", startAt)
        json.field("billing_cycle_anchor", billingCycleAnchor)
        json.field("current_period_start", currentPeriodStart)
        json.field("current_period_end", currentPeriodEnd)
        json.field("trial_end", trialEnd)
        json.field("cancel_at_period_end", cancelAtPeriodEnd)
        json.field("canceled_at", canceledAt)
        json.field("ended_at", endedAt)
        json.field("cancellation_reason", cancellationReason)
        json.key("tax_rate_ids")
        json.beginArray()
        for id in taxRateIDs { json.value(id.uuid) }
        json.endArray()
        json.field("discount", discount)
        json.field("pause_collection", pauseCollection)
        json.field("pending_update", pendingUpdate)
        json.field("created_at", createdAt)
    }
}
