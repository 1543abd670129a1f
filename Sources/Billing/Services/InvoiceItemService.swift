import Common
import Postgres

/// Invoice items (`invoicing.md` §2): one-off charges or credits, pending until the next
/// invoice of their customer takes them, or added to a draft. They change only while
/// pending or on a draft; each change locks the customer first (the lock order), so an
/// item never changes while an invoice takes it.
public enum InvoiceItemService {
    /// How an item is priced: a whole amount, or a unit price times a quantity.
    public enum Price: Sendable {
        case amount(Int64)
        case unit(Int64, quantity: Int)
    }

    public struct Create: Sendable {
        public var customerID: ID<Customer>
        public var description: String
        public var currency: String?
        public var price: Price
        public var invoiceID: ID<Invoice>?
        public var period: (start: Timestamp, end: Timestamp)?
        public init(
            customerID: ID<Customer>, description: String, currency: String?, price: Price, invoiceID: ID<Invoice>?,
            period: (start: Timestamp, end: Timestamp)?
        ) {
            self.customerID = customerID
            self.description = description
            self.currency = currency
            self.price = price
            self.invoiceID = invoiceID
            self.period = period
        }
    }

    public struct Update: Sendable {
        public var description: String?
        public var amount: Int64?
        public var unitAmount: Int64?
        public var quantity: Int?
        public init(description: String?, amount: Int64?, unitAmount: Int64?, quantity: Int?) {
            self.description = description
            self.amount = amount
            self.unitAmount = unitAmount
            self.quantity = quantity
        }
    }

    static let settled = BillingError.conflict(
        "the item is on a finalized invoice: only pending items and items of drafts change",
        slug: "invoice-item-invoiced")

    /// `unit × quantity` as (unit, quantity, amount), or a 422 past ±10^12.
    static func priced(_ price: Price) throws -> (unit: Int64, quantity: Int, amount: Int64) {
        switch price {
        case .amount(let amount):
            return (amount, 1, amount)
        case .unit(let unit, let quantity):
            guard let amount = Pricing.extended(unit, quantity: quantity) else {
                throw BillingError.invalid(
                    field: "quantity", message: "unit_amount_cents × quantity must be within ±10^12")
            }
            return (unit, quantity, amount)
        }
    }

    public static func create(_ input: Create, now: Timestamp, on db: Connection) throws -> InvoiceItem {
        var events = EventLog.Pending()
        let (unit, quantity, amount) = try priced(input.price)
        let customer = try CustomerService.lock(input.customerID, on: db)
        let now = try TestClockService.now(onClock: customer.testClockID, else: now, events: &events, on: db)
        let currency = try CustomerService.billingCurrency(
            of: customer, given: input.currency, events: &events, now: now, on: db)
        if let invoiceID = input.invoiceID {
            // Whose it is first: another customer's invoice is refused before its owner would
            // be locked after this one (two customers are never locked in turn).
            guard let owner = try db.query("SELECT customer_id FROM invoices WHERE id = \(invoiceID)").first else {
                throw BillingError.notFound("no such invoice")
            }
            guard owner.uuid(0) == customer.id.uuid else {
                throw BillingError.invalid(field: "invoice_id", message: "is an invoice of another customer")
            }
            guard try InvoiceService.lock(invoiceID, on: db).status == .draft else { throw InvoiceService.notDraft }
        }
        let period = input.period ?? (now, now)
        let item = try InvoiceItem(
            row: try db.query(
                """
                INSERT INTO invoice_items (id, customer_id, invoice_id, currency, description, quantity, \
                unit_amount_cents, amount_cents, period_start, period_end, created_at, updated_at) \
                VALUES (\(ID<InvoiceItem>.generate()), \(customer.id), \(input.invoiceID), \(currency), \
                \(input.description), \(quantity), \(unit), \(amount), \(period.start), \(period.end), \(now), \(now)) \
                RETURNING \(unsafeSQL: InvoiceItem.columns)
                """)[0])
        events.add(.invoiceItemCreated, item)
        try refreshDraft(of: item, events: &events, now: now, on: db)
        try events.append(at: now, on: db)
        return item
    }

    public static func get(_ id: ID<InvoiceItem>, on db: Connection) throws -> InvoiceItem {
        guard
            let row = try db.query("SELECT \(unsafeSQL: InvoiceItem.columns) FROM invoice_items WHERE id = \(id)").first
        else { throw BillingError.notFound("no such invoice item") }
        return try InvoiceItem(row: row)
    }

    public static func list(
        customerID: ID<Customer>?, invoiceID: ID<Invoice>?, pending: Bool?, page: PageRequest, on db: Connection
    ) throws -> Page<InvoiceItem> {
        var query = ListQuery(table: "invoice_items", columns: InvoiceItem.columns)
        query.filter("customer_id", customerID)
        query.filter("invoice_id", invoiceID)
        if let pending { query.condition(pending ? "invoice_id IS NULL" : "invoice_id IS NOT NULL") }
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: InvoiceItem.init(row:))
    }

    public static func update(_ id: ID<InvoiceItem>, _ input: Update, now: Timestamp, on db: Connection) throws
        -> InvoiceItem
    {
        var events = EventLog.Pending()
        var now = now
        let item = try lock(id, now: &now, events: &events, on: db)
        let price: Price
        if let amount = input.amount {
            price = .amount(amount)
        } else {
            price = .unit(input.unitAmount ?? item.unitAmountCents, quantity: input.quantity ?? item.quantity)
        }
        let (unit, quantity, amount) = try priced(price)
        let updated = try InvoiceItem(
            row: try db.query(
                """
                UPDATE invoice_items SET description = coalesce(\(input.description), description), \
                unit_amount_cents = \(unit), quantity = \(quantity), amount_cents = \(amount), updated_at = \(now) \
                WHERE id = \(id) RETURNING \(unsafeSQL: InvoiceItem.columns)
                """)[0])
        events.add(.invoiceItemUpdated, updated)
        try refreshDraft(of: updated, events: &events, now: now, on: db)
        try events.append(at: now, on: db)
        return updated
    }

    public static func delete(_ id: ID<InvoiceItem>, now: Timestamp, on db: Connection) throws {
        var events = EventLog.Pending()
        var now = now
        let item = try lock(id, now: &now, events: &events, on: db)
        try db.query("DELETE FROM invoice_lines WHERE invoice_item_id = \(id)")
        try db.query("DELETE FROM invoice_items WHERE id = \(id)")
        events.add(.invoiceItemDeleted, item)
        try refreshDraft(of: item, events: &events, now: now, on: db)
        try events.append(at: now, on: db)
    }

    /// Locks an item that may still change (after its customer and its draft, the lock
    /// order): pending, or on a draft; 409 otherwise. `now` becomes its customer's time.
    private static func lock(
        _ id: ID<InvoiceItem>, now: inout Timestamp, events: inout EventLog.Pending, on db: Connection
    ) throws -> InvoiceItem {
        // The owner never changes: found through the item and locked in one statement. Its
        // invoice is read after, by a statement that sees what was committed before the
        // lock was granted (every invoice that takes items locks the customer first).
        guard
            let owner = try db.query(
                """
                SELECT test_clock_id FROM customers \
                WHERE id = (SELECT customer_id FROM invoice_items WHERE id = \(id)) FOR UPDATE
                """
            ).first,
            let row = try db.query("SELECT invoice_id FROM invoice_items WHERE id = \(id)").first
        else { throw BillingError.notFound("no such invoice item") }
        var r = RowReader(owner)
        now = try TestClockService.now(onClock: r.optionalID(), else: now, events: &events, on: db)
        if let invoiceID = row.uuid(0).map(ID<Invoice>.init) {
            guard try InvoiceService.lock(invoiceID, on: db).status == .draft else { throw settled }
        }
        guard
            let locked = try db.query(
                "SELECT \(unsafeSQL: InvoiceItem.columns) FROM invoice_items WHERE id = \(id) FOR UPDATE"
            ).first
        else { throw BillingError.notFound("no such invoice item") }
        return try InvoiceItem(row: locked)
    }

    /// The draft an item is on shows it as a line: rebuilt, with `invoice.updated`.
    private static func refreshDraft(
        of item: InvoiceItem, events: inout EventLog.Pending, now: Timestamp, on db: Connection
    ) throws {
        guard let invoiceID = item.invoiceID else { return }
        events.add(.invoiceUpdated, try InvoiceService.refreshItemLines(of: invoiceID, now: now, on: db))
    }
}
