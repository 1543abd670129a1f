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
        return try presentingDrafts([invoice], on: db)[0]
    }

    public static func list(
        customerID: ID<Customer>?, subscriptionID: ID<Subscription>?, status: String?, page: PageRequest,
        on db: Connection
    ) throws -> Page<Invoice> {
        var query = ListQuery(table: "invoices", columns: Invoice.columns)
        query.filter("customer_id", customerID)
        query.filter("subscription_id", subscriptionID)
        query.filter("status", status)
        return try query.run(
            on: db, page: page, joining: lines, cursor: { $0.id?.description ?? "" },
            decodeRows: { try presentingDrafts(try folding($0), on: db) })
    }

    /// Drafts with their totals as they would be if finalized now: priced with their
    /// customers' current balances and tax rates (more statements only when a draft is
    /// among them).
    static func presentingDrafts(_ invoices: [Invoice], on db: Connection) throws -> [Invoice] {
        let ids = Set(invoices.filter { $0.status == .draft }.map(\.customerID))
        guard !ids.isEmpty else { return invoices }
        let customers = try CustomerService.get(Array(ids), on: db)
        let terms = try TaxRateService.terms(of: customers.values.flatMap { $0.taxRateIDs.map(\.uuid) }, on: db)
        return try invoices.map { invoice in
            guard invoice.status == .draft, let customer = customers[invoice.customerID] else { return invoice }
            return try presented(
                invoice, balance: customer.balanceCents, rates: customer.taxRateIDs.compactMap { terms[$0.uuid] })
        }
    }

    /// A draft priced for a customer whose balance is `balance`, taxed at `rates` (a
    /// one-off invoice's are its customer's).
    static func presented(_ draft: Invoice, balance: Int64, rates: [TaxTerms]) throws -> Invoice {
        var invoice = draft
        invoice.totals = try Pricing.totals(of: draft.lines.map(\.priced), rates: rates, balance: balance)
        invoice.amountRemainingCents = invoice.totals.amountDue
        return invoice
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
        let rows = try db.query(
            """
            SELECT invoice_id, \(unsafeSQL: InvoiceLine.columns) FROM invoice_lines \
            WHERE invoice_id = ANY(\(ids)::uuid[]) ORDER BY invoice_id, position
            """
        ).rows
        var byInvoice: [ID<Invoice>: [InvoiceLine]] = [:]
        for row in rows {
            var r = RowReader(row)
            let invoiceID: ID<Invoice> = try r.id()
            byInvoice[invoiceID, default: []].append(try InvoiceLine(&r))
        }
        return invoices.map { invoice in
            var invoice = invoice
            invoice.lines = invoice.id.flatMap { byInvoice[$0] } ?? []
            return invoice
        }
    }
}
