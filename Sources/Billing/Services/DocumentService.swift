import Common
import Postgres

/// What a document shows of an invoice (documents.md): the invoice with its lines, whom it
/// bills, and what was paid and credited against it.
public struct InvoiceDocument: Sendable {
    public var invoice: Invoice
    public var customerName: String
    public var customerEmail: String
    public var payments: [Payment]
    public var creditNotes: [CreditNote]
}

/// Reads documents' contents and keeps rendered PDFs: a finalized invoice's PDF, or a
/// credit note's, is rendered at the first request and the same bytes are served ever after.
public enum DocumentService {
    /// The finalized invoice whose hosted page `token` names. An unknown token, one of a
    /// draft, and one that could not be a token at all take the same path (one indexed
    /// lookup) and end in the same 404.
    /// `history` reads its payments and credit notes too (the page shows them; its PDF,
    /// the invoice as finalized, does not).
    public static func hosted(token: String, history: Bool = true, on db: Connection) throws -> InvoiceDocument {
        let key = SecretToken.isWellFormed(token) ? token : ""
        let rows = try db.query(
            InvoiceService.lines.joined(
                to: """
                    SELECT \(unsafeSQL: Invoice.columns), seq FROM invoices \
                    WHERE hosted_token = \(key) AND status <> 'draft'
                    """)
        ).rows
        guard let invoice = try InvoiceService.folding(rows).first else { throw BillingError.notFound("no such page") }
        return try document(of: invoice, history: history, on: db)
    }

    /// The invoice `id` for its PDF (or a credit note's): finalized (a draft has no PDF: 409),
    /// without its payments and credit notes.
    public static func invoice(_ id: ID<Invoice>, on db: Connection) throws -> InvoiceDocument {
        let invoice = try InvoiceService.get(id, on: db)
        guard invoice.status != .draft else {
            throw BillingError.conflict("a draft has no PDF until it is finalized", slug: "invoice-draft")
        }
        return try document(of: invoice, history: false, on: db)
    }

    /// The customer of `invoice`, and with `history` its payments (in the same statement)
    /// and its credit notes.
    static func document(of invoice: Invoice, history: Bool, on db: Connection) throws -> InvoiceDocument {
        guard history else {
            guard let row = try db.query("SELECT name, email FROM customers WHERE id = \(invoice.customerID)").first
            else { throw BillingError.notFound("no such customer") }
            return InvoiceDocument(
                invoice: invoice, customerName: row.string(0) ?? "", customerEmail: row.string(1) ?? "", payments: [],
                creditNotes: [])
        }
        let rows = try db.query(
            """
            SELECT c.name, c.email, \(unsafeSQL: qualified(Payment.columns, with: "p")) FROM customers c \
            LEFT JOIN payments p ON p.invoice_id = \(invoice.id) WHERE c.id = \(invoice.customerID) ORDER BY p.seq
            """
        ).rows
        guard let first = rows.first else { throw BillingError.notFound("no such customer") }
        var document = InvoiceDocument(
            invoice: invoice, customerName: first.string(0) ?? "", customerEmail: first.string(1) ?? "",
            payments: [], creditNotes: [])
        for row in rows where !row.isNull(2) {
            var r = RowReader(row.dropping(2))
            document.payments.append(try Payment(&r))
        }
        document.creditNotes = try db.query(
            "SELECT \(unsafeSQL: CreditNote.columns) FROM credit_notes WHERE invoice_id = \(invoice.id) ORDER BY seq"
        ).rows.map(CreditNote.init(row:))
        return document
    }

    /// The PDF stored for `key` (an invoice's or a credit note's), if one was rendered.
    public static func storedPDF(_ key: PDFKey, on db: Connection) throws -> [UInt8]? {
        try db.query("SELECT pdf FROM \(unsafeSQL: key.table) WHERE \(unsafeSQL: key.column) = \(key.id)").first?
            .bytea(0)
    }

    /// The PDF stored for the invoice whose hosted page `token` names.
    public static func storedPDF(token: String, on db: Connection) throws -> [UInt8]? {
        let key = SecretToken.isWellFormed(token) ? token : ""
        return try db.query(
            "SELECT p.pdf FROM invoices i JOIN invoice_pdfs p ON p.invoice_id = i.id WHERE i.hosted_token = \(key)"
        ).first?.bytea(0)
    }

    /// Stores a first render and answers the bytes that are kept: its own, or those of a
    /// render that committed first (the same document rendered twice at once).
    public static func storePDF(_ pdf: [UInt8], for key: PDFKey, on db: Connection) throws -> [UInt8] {
        let inserted = try db.query(
            """
            INSERT INTO \(unsafeSQL: key.table) (\(unsafeSQL: key.column), pdf) VALUES (\(key.id), \(SQLBytes(pdf))::bytea) \
            ON CONFLICT DO NOTHING RETURNING 1
            """)
        if inserted.rowCount > 0 { return pdf }
        return try storedPDF(key, on: db) ?? pdf
    }
}

/// Which stored PDF: an invoice's or a credit note's.
public enum PDFKey: Sendable {
    case invoice(ID<Invoice>)
    case creditNote(ID<CreditNote>)

    var table: String {
        switch self {
        case .invoice: "invoice_pdfs"
        case .creditNote: "credit_note_pdfs"
        }
    }

    var column: String {
        switch self {
        case .invoice: "invoice_id"
        case .creditNote: "credit_note_id"
        }
    }

    var id: UUID128 {
        switch self {
        case .invoice(let id): id.uuid
        case .creditNote(let id): id.uuid
        }
    }
}
