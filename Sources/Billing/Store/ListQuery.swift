import Common
import Postgres

/// Reads one page of a table newest first. Order is the table's identity column `seq`,
/// which follows commit-independent creation order exactly (ids and timestamps may tie),
/// or another column unique among the rows the filters select (`order`).
struct ListQuery {
    var table: String
    var columns: String
    /// The column rows are ordered by; read as `seq`.
    var order = "seq"
    /// The condition that finds the row a cursor names, as `d`: by its `id`, or for a
    /// table with no index on `id` (webhook deliveries), by the key the id carries.
    var locating: @Sendable (UUID128) -> SQLQuery = { "d.id = \($0)" }
    var filters: [(column: String, text: String?)] = []

    init(table: String, columns: String) {
        self.table = table
        self.columns = columns
    }

    var conditions: [String] = []

    mutating func filter(_ column: String, _ value: (any SQLBindable)?) {
        if let value { filters.append((column, value.sqlText)) }
    }

    /// A fixed condition without values, e.g. `invoice_id IS NULL`.
    mutating func condition(_ sql: String) { conditions.append(sql) }

    /// A child table read in the same statement as the page: one round trip for a list of
    /// invoices with their lines instead of two.
    struct Join {
        /// The child's columns, each prefixed with `child.`.
        var columns: String
        /// The child table and how it joins `page`, e.g. `invoice_lines child ON child.invoice_id = page.id`.
        var tableAndCondition: String
        /// How the children of one parent are ordered, e.g. `child.position`.
        var order: String

        /// `page`, a statement selecting parents' columns and their `seq`, with each
        /// parent's children joined: parents newest first, each parent's rows together.
        func joined(to page: SQLQuery) -> SQLQuery {
            SQLQuery(
                unsafeSQL: "SELECT page.*, \(columns) FROM (\(page.sql)) page LEFT JOIN \(tableAndCondition) "
                    + "ORDER BY page.seq DESC, \(order)",
                binds: page.binds)
        }
    }

    func run<Item: JSONWritable>(
        on db: Connection, page: PageRequest, cursor: (Item) -> String, decode: (Row) throws -> Item
    ) throws -> Page<Item> {
        try run(on: db, page: page, joining: nil, cursor: cursor) { rows in try rows.map(decode) }
    }

    /// With a `Join`, each row holds the parent's columns, its `seq`, then one child's
    /// columns (NULL for a parent without children), parents newest first and each
    /// parent's rows together: `decodeRows` folds them into items.
    func run<Item: JSONWritable>(
        on db: Connection, page: PageRequest, joining join: Join?, cursor: (Item) -> String,
        decodeRows: ([Row]) throws -> [Item]
    ) throws -> Page<Item> {
        var query = SQLQuery(unsafeSQL: "SELECT \(columns), \(order) AS seq FROM \(table) WHERE true")
        for filter in filters {
            query.append(unsafeSQL: " AND \(filter.column) = ")
            query.append(bindText: filter.text)
        }
        for condition in conditions { query.append(unsafeSQL: " AND \(condition)") }
        if let after = page.startingAfter {
            query.append(unsafeSQL: " AND \(order) < (SELECT d.\(order) FROM \(table) d WHERE ")
            query.append(locating(after))
            query.append(unsafeSQL: ")")
        }
        query.append(unsafeSQL: " ORDER BY \(order) DESC LIMIT ")
        query.append(bind: page.limit + 1)
        if let join { query = join.joined(to: query) }
        let items = try decodeRows(try db.query(query).rows)
        if items.isEmpty, let after = page.startingAfter {
            let exists =
                try db.query("SELECT 1 FROM \(unsafeSQL: table) d WHERE \(query: locating(after))").rowCount > 0
            if !exists { throw BillingError.invalid(field: "starting_after", message: "no such object") }
        }
        return Page(rows: items, limit: page.limit, cursor: cursor)
    }
}
