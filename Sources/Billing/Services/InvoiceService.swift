import Common
import Postgres

/// Reads invoices with their lines.
public enum InvoiceService {
    /// One round trip: the invoice and its lines in one statement, read by `folding`.
    public static func get(_ id: ID<Invoice>, on db: Connection) throws -> Invoice {
        let rows = try db.query(
            lines.joined(to: "SELECT \(unsafeSQL: Invoice.columns), seq FROM invoices WHERE id = \(id)")
        ).rows
        guard let invoice = try folding(rows).first else { throw BillingError.notFound("no such invoice") }
        return invoice
    }

    public static func list(
        customerID: ID<Customer>?, subscriptionID: ID<Subscription>?, status: String?, page: PageRequest,
        on db: Connection
    ) throws -> Page<Invoice> {
        var query = ListQuery(table: "invoices", columns: Invoice.columns)
        query.filter("customer_id", customerID)
        query.filter("subscription_id", subscriptionID)
        query.filter("status", status)
        return try query.run(on: db, page: page, joining: lines, cursor: { $0.id.description }, decodeRows: folding)
    }

    /// The lines of the invoices in `page`, joined in the same statement.
    static let lines = ListQuery.Join(
        columns: InvoiceLine.columnsOfChild, tableAndCondition: "invoice_lines child ON child.invoice_id = page.id",
        order: "child.position")

    /// Folds rows of `page.*, child.*` — an invoice's columns, its `seq`, then one line's
    /// columns (all NULL for an invoice without lines), each invoice's rows together — into
    /// invoices. A new `seq` (an integer, cheaper to read than the id) starts a new invoice.
    static func folding(_ rows: [Row]) throws -> [Invoice] {
        var invoices: [Invoice] = []
        var currentSeq: Int64? = nil
        for row in rows {
            var r = RowReader(row)
            let invoice = try Invoice(&r)
            let seq = try r.int64()
            if seq != currentSeq {
                invoices.append(invoice)
                currentSeq = seq
            }
            if !row.isNull(r.column) { invoices[invoices.count - 1].lines.append(try InvoiceLine(&r)) }
        }
        return invoices
    }

    /// Loads the lines of all `invoices` in one query.
    static func withLines(_ invoices: [Invoice], on db: Connection) throws -> [Invoice] {
        guard !invoices.isEmpty else { return invoices }
        let ids = SQLArray(invoices) { $0.id }
        let lines = try db.query(
            """
            SELECT \(unsafeSQL: InvoiceLine.columns) FROM invoice_lines WHERE invoice_id = ANY(\(ids)::uuid[]) \
            ORDER BY invoice_id, position
            """
        ).rows.map(InvoiceLine.init(row:))
        var byInvoice: [ID<Invoice>: [InvoiceLine]] = [:]
        for line in lines { byInvoice[line.invoiceID, default: []].append(line) }
        return invoices.map { invoice in
            var invoice = invoice
            invoice.lines = byInvoice[invoice.id] ?? []
            return invoice
        }
    }
}
