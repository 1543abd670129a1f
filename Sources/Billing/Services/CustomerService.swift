import Common
import Postgres

/// Creates, reads and updates customers. Every write runs in the caller's transaction.
public enum CustomerService {
    public struct Create: Sendable {
        public var email: String
        public var name: String
        public var metadata: [JSONMember]
        public var zone: Zone
        public var testClockID: ID<TestClock>?
        public init(
            email: String, name: String, metadata: [JSONMember], zone: Zone = .utc, testClockID: ID<TestClock>? = nil
        ) {
            self.email = email
            self.name = name
            self.metadata = metadata
            self.zone = zone
            self.testClockID = testClockID
        }
    }

    public struct Update: Sendable {
        public var email: String?
        public var name: String?
        /// Merged into the existing metadata; a key set to "" is removed (as Stripe does).
        public var metadata: [JSONMember]?
        public var taxRateIDs: [ID<TaxRate>]?
        public var zone: Zone?
        public init(
            email: String?, name: String?, metadata: [JSONMember]?, taxRateIDs: [ID<TaxRate>]? = nil, zone: Zone? = nil
        ) {
            self.email = email
            self.name = name
            self.metadata = metadata
            self.taxRateIDs = taxRateIDs
            self.zone = zone
        }
    }

    static let duplicateEmail = BillingError.conflict("a customer with this email already exists", slug: "email-taken")

    /// Creates a customer with a new invoice prefix. The prefix's unique index decides: a
    /// prefix taken meanwhile inserts nothing (`ON CONFLICT … DO NOTHING` keeps the
    /// transaction usable) and the next one is tried. `prefixes` is for tests.
    public static func create(
        _ input: Create, now: Timestamp, on db: Connection, prefixes: () -> String = Customer.randomInvoicePrefix
    ) throws -> Customer {
        let metadata = input.metadata.filter { !isEmptyString($0.value) }
        let id = ID<Customer>.generate()
        // A customer on a clock is created at the clock's time (404 for an unknown clock).
        let now = try input.testClockID.map { try TestClockService.timeForNewCustomer(on: $0, on: db) } ?? now
        for _ in 0..<8 {
            let result = try mapUniqueViolation(to: duplicateEmail) {
                try db.query(
                    """
                    INSERT INTO customers (id, email, name, metadata, invoice_prefix, timezone, test_clock_id, \
                    created_at, updated_at) \
                    VALUES (\(id), \(input.email), \(input.name), \(Customer.encodeMetadata(metadata))::jsonb, \
                    \(prefixes()), \(input.zone.name), \(input.testClockID), \(now), \(now)) \
                    ON CONFLICT (invoice_prefix) DO NOTHING RETURNING \(unsafeSQL: Customer.columns)
                    """)
            }
            guard let row = result.first else { continue }
            let customer = try Customer(row: row)
            try EventLog.append(.customerCreated, customer, at: now, testClockID: customer.testClockID, on: db)
            return customer
        }
        // Eight collisions in a row among 2.8 × 10¹² prefixes: the generator is broken.
        throw BillingError.conflict("no free invoice prefix was found; try again", slug: "invoice-prefix-taken")
    }

    public static func get(_ id: ID<Customer>, on db: Connection) throws -> Customer {
        let result = try db.query("SELECT \(unsafeSQL: Customer.columns) FROM customers WHERE id = \(id)")
        guard let row = result.first else { throw BillingError.notFound("no such customer") }
        return try Customer(row: row)
    }

    /// Reads and locks the customer row until the transaction ends.
    static func lock(_ id: ID<Customer>, on db: Connection) throws -> Customer {
        let result = try db.query("SELECT \(unsafeSQL: Customer.columns) FROM customers WHERE id = \(id) FOR UPDATE")
        guard let row = result.first else { throw BillingError.notFound("no such customer") }
        return try Customer(row: row)
    }

    public static func list(email: String?, page: PageRequest, on db: Connection) throws -> Page<Customer> {
        var query = ListQuery(table: "customers", columns: Customer.columns)
        query.filter("lower(email)", email?.lowercased())
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: Customer.init(row:))
    }

    public static func update(_ id: ID<Customer>, _ input: Update, now: Timestamp, on db: Connection) throws -> Customer
    {
        var customer = try lock(id, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: customer.testClockID, else: now, events: &events, on: db)
        if let rates = input.taxRateIDs {
            try TaxRateService.checkAssignable(rates, on: db)
            customer.taxRateIDs = rates
        }
        if let zone = input.zone, zone != customer.zone {
            // The customer's lock serialises this with the start of a subscription, which
            // takes the same lock and copies the zone: the two never disagree while it lives.
            let live = try db.query(
                "SELECT 1 FROM subscriptions WHERE customer_id = \(id) AND status <> 'canceled' LIMIT 1")
            guard live.rowCount == 0 else {
                throw BillingError.conflict(
                    "the customer has a live subscription: its calendar's time zone cannot change",
                    slug: "timezone-locked")
            }
            customer.zone = zone
        }
        if let email = input.email { customer.email = email }
        if let name = input.name { customer.name = name }
        if let patch = input.metadata {
            for member in patch {
                customer.metadata.removeAll { $0.key == member.key }
                if !isEmptyString(member.value) { customer.metadata.append(member) }
            }
            guard customer.metadata.count <= 20 else {
                throw BillingError.invalid(field: "metadata", message: "must have at most 20 keys after the update")
            }
        }
        let result = try mapUniqueViolation(to: duplicateEmail) {
            try db.query(
                """
                UPDATE customers SET email = \(customer.email), name = \(customer.name), \
                metadata = \(Customer.encodeMetadata(customer.metadata))::jsonb, \
                tax_rate_ids = \(SQLArray(customer.taxRateIDs))::uuid[], timezone = \(customer.zone.name), \
                updated_at = \(now) \
                WHERE id = \(id) RETURNING \(unsafeSQL: Customer.columns)
                """)
        }
        customer = try Customer(row: result[0])
        events.add(.customerUpdated, customer)
        try events.append(at: now, on: db)
        return customer
    }

    /// Records the customer's currency and balance after billing, with its event.
    static func setCurrencyAndBalance(
        _ id: ID<Customer>, currency: String, balance: Int64, events: inout EventLog.Pending, now: Timestamp,
        on db: Connection
    ) throws {
        try Customer.checkBalance(balance)
        let updated = try db.query(
            """
            UPDATE customers SET currency = \(currency), balance_cents = \(balance), updated_at = \(now) \
            WHERE id = \(id) RETURNING \(unsafeSQL: Customer.columns)
            """)
        events.add(.customerUpdated, try Customer(row: updated[0]))
    }

    /// The currency a one-off charge of a locked customer is billed in: the customer's; a
    /// customer without one takes `given` (required then), as a first subscription sets it.
    static func billingCurrency(
        of customer: Customer, given: String?, events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws -> String {
        guard let current = customer.currency else {
            guard let given else {
                throw BillingError.invalid(field: "currency", message: "is required: the customer has no currency yet")
            }
            try setCurrencyAndBalance(
                customer.id, currency: given, balance: customer.balanceCents, events: &events, now: now, on: db)
            return given
        }
        if let given, given != current {
            throw BillingError.invalid(field: "currency", message: "the customer is billed in \(current), not \(given)")
        }
        return current
    }

    /// Locks the customers (in id order, so that concurrent runs cannot deadlock) and
    /// returns their balances.
    static func lockBalances(_ ids: [ID<Customer>], on db: Connection) throws -> [ID<Customer>: Int64] {
        var balances: [ID<Customer>: Int64] = [:]
        let rows = try db.query(
            "SELECT id, balance_cents FROM customers WHERE id = ANY(\(SQLArray(ids))::uuid[]) ORDER BY id FOR UPDATE")
        for row in rows.rows {
            var r = RowReader(row)
            balances[try r.id()] = try r.int64()
        }
        return balances
    }

    /// The customers, without locking them.
    static func get(_ ids: [ID<Customer>], on db: Connection) throws -> [ID<Customer>: Customer] {
        var customers: [ID<Customer>: Customer] = [:]
        let rows = try db.query(
            "SELECT \(unsafeSQL: Customer.columns) FROM customers WHERE id = ANY(\(SQLArray(ids))::uuid[])")
        for customer in try rows.rows.map(Customer.init(row:)) { customers[customer.id] = customer }
        return customers
    }

    /// Stores changed balances, with a `customer.updated` event each.
    static func saveBalances(
        _ balances: [ID<Customer>: Int64], events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws {
        guard !balances.isEmpty else { return }
        for balance in balances.values { try Customer.checkBalance(balance) }
        let entries = Array(balances)
        let updated = try db.query(
            """
            UPDATE customers c SET balance_cents = v.balance, updated_at = \(now) \
            FROM unnest(\(SQLArray(entries) { $0.key })::uuid[], \(SQLArray(entries) { $0.value })::bigint[]) \
            AS v(id, balance) WHERE c.id = v.id RETURNING \(unsafeSQL: qualified(Customer.columns, with: "c"))
            """)
        events.add(.customerUpdated, each: try updated.rows.map(Customer.init(row:)))
    }

    private static func isEmptyString(_ value: JSONValue) -> Bool { value == .string("") }
}

/// Runs `body`, turning a unique violation into `conflict`.
func mapUniqueViolation<T>(to conflict: BillingError, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as PostgresError where error.isUniqueViolation {
        throw conflict
    }
}
