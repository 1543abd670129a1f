import Common
import Postgres

/// Reads invoices with their lines.
public enum InvoiceService {
    public static func get(_ id: ID<Invoice>, on db: Connection) throws -> Invoice {
        let result = try db.query("SELECT \(unsafeSQL: Invoice.columns) FROM invoices WHERE id = \(id)")
        guard let row = result.first else { throw BillingError.notFound("no such invoice") }
        return try withLines([Invoice(row: row)], on: db)[0]
    }

    public static func list(
        customerID: ID<Customer>?, subscriptionID: ID<Subscription>?, status: String?, page: PageRequest,
        on db: Connection
    ) throws -> Page<Invoice> {
        var query = ListQuery(table: "invoices", columns: Invoice.columns)
        query.filter("customer_id", customerID)
        query.filter("subscription_id", subscriptionID)
        query.filter("status", status)
        let lines = ListQuery.Join(
            columns: InvoiceLine.columnsOfChild, tableAndCondition: "invoice_lines child ON child.invoice_id = page.id",
            order: "child.position")
        return try query.run(on: db, page: page, joining: lines, cursor: { $0.id.description }) { rows in
            var invoices: [Invoice] = []
            for row in rows {
                if invoices.last?.id != row.id(0) { invoices.append(Invoice(row: row)) }
                // The line's columns follow the invoice's and its `seq`; all NULL without lines.
                let line = row.dropping(Invoice.columnCount + 1)
                if !line.isNull(0) { invoices[invoices.count - 1].lines.append(InvoiceLine(row: line)) }
            }
            return invoices
        }
    }

    /// Loads the lines of all `invoices` in one query.
    static func withLines(_ invoices: [Invoice], on db: Connection) throws -> [Invoice] {
        guard !invoices.isEmpty else { return invoices }
        let ids = SQLArray(invoices.map(\.id))
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
