import Common
import Postgres

/// Reads one page of a table newest first. Order is the table's identity column `seq`,
/// which follows commit-independent creation order exactly (ids and timestamps may tie).
struct ListQuery {
    var table: String
    var columns: String
    var filters: [(column: String, text: String?)] = []

    init(table: String, columns: String) {
        self.table = table
        self.columns = columns
    }

    mutating func filter(_ column: String, _ value: (any SQLBindable)?) {
        if let value { filters.append((column, value.sqlText)) }
    }

    func run<Item: JSONWritable>(
        on db: Connection, page: PageRequest, cursor: (Item) -> String, decode: (Row) -> Item
    ) throws -> Page<Item> {
        var query = SQLQuery(unsafeSQL: "SELECT \(columns) FROM \(table) WHERE true")
        for filter in filters {
            query.append(unsafeSQL: " AND \(filter.column) = ")
            query.append(bindText: filter.text)
        }
        if let after = page.startingAfter {
            query.append(unsafeSQL: " AND seq < (SELECT seq FROM \(table) WHERE id = ")
            query.append(bind: after)
            query.append(unsafeSQL: ")")
        }
        query.append(unsafeSQL: " ORDER BY seq DESC LIMIT ")
        query.append(bind: page.limit + 1)
        let rows = try db.query(query).rows.map(decode)
        if rows.isEmpty, let after = page.startingAfter {
            let exists = try db.query("SELECT 1 FROM \(unsafeSQL: table) WHERE id = \(after)").rowCount > 0
            if !exists { throw BillingError.invalid(field: "starting_after", message: "no such object") }
        }
        return Page(rows: rows, limit: page.limit, cursor: cursor)
    }
}
