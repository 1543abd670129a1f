import Billing
import Common
import Documents
import HTTP
import Postgres

/// Documents (documents.md): the hosted invoice page and its PDF, reached by the page's
/// secret token without an API key, and the PDFs of invoices and credit notes by id.
enum DocumentRoutes {
    static func register(in api: inout API) {
        api.read("/i/{token}", authenticated: false) { call in
            let document = try DocumentService.hosted(token: call.parameters[0], on: call.database())
            let sheet = DocumentSheet(invoice: document, settings: .shared, asFinalized: false)
            return HTTPResponse(
                status: 200,
                headers: [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Security-Policy", HostedPage.contentSecurityPolicy),
                    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                ] + HostedPage.headers,
                body: HostedPage.render(sheet, pdfPath: "/i/\(document.invoice.hostedToken)/pdf"))
        }

        api.read("/i/{token}/pdf", authenticated: false) { call in
            let db = try call.database()
            let token = call.parameters[0]
            if let pdf = try DocumentService.storedPDF(token: token, on: db) { return answer(pdf, hosted: true) }
            return answer(
                try invoicePDF(DocumentService.hosted(token: token, history: false, on: db), on: db), hosted: true)
        }

        api.read("/invoices/{id}/pdf") { call in
            let db = try call.database()
            let id: ID<Invoice> = try call.id(0, "invoice")
            if let pdf = try DocumentService.storedPDF(.invoice(id), on: db) { return answer(pdf, hosted: false) }
            return answer(try invoicePDF(DocumentService.invoice(id, on: db), on: db), hosted: false)
        }

        api.read("/credit-notes/{id}/pdf") { call in
            let db = try call.database()
            let id: ID<CreditNote> = try call.id(0, "credit note")
            if let pdf = try DocumentService.storedPDF(.creditNote(id), on: db) { return answer(pdf, hosted: false) }
            let note = try CreditNoteService.get(id, on: db)
            let document = try DocumentService.invoice(note.invoiceID, on: db)
            let sheet = DocumentSheet(creditNote: note, of: document, settings: .shared)
            let pdf = try PDFRendererProcess.render(sheet, createdAt: note.createdAt.description)
            return answer(try DocumentService.storePDF(pdf, for: .creditNote(id), on: db), hosted: false)
        }
    }

    /// Renders a finalized invoice as it was finalized, and keeps the first render stored.
    private static func invoicePDF(_ document: InvoiceDocument, on db: Connection) throws -> [UInt8] {
        guard let id = document.invoice.id else { throw BillingError.notFound("no such invoice") }
        let sheet = DocumentSheet(invoice: document, settings: .shared, asFinalized: true)
        let created = (document.invoice.finalizedAt ?? document.invoice.createdAt).description
        let pdf = try PDFRendererProcess.render(sheet, createdAt: created)
        return try DocumentService.storePDF(pdf, for: .invoice(id), on: db)
    }

    private static func answer(_ pdf: [UInt8], hosted: Bool) -> HTTPResponse {
        HTTPResponse(
            status: 200,
            headers: [("Content-Type", "application/pdf"), ("X-Content-Type-Options", "nosniff")]
                + (hosted ? HostedPage.headers : [("Cache-Control", "private, max-age=60")]),
            body: pdf)
    }
}
