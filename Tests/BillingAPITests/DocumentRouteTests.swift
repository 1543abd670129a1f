import Common
import Foundation
import Testing

extension InProcessAPI {
    /// `documents.md` through `API.handle`, in process against PostgreSQL: hosted pages,
    /// PDFs stored once, and the reports' refusals.
    @Suite struct DocumentRouteTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        private func finalizedInvoice(name: String = "Zoë <b>") throws -> APIHarness.Answer {
            let customer = try #require(
                api.post(
                    "/customers", #"{"email": "d-\#(UUID().uuidString.prefix(8))@example.com", "name": "\#(name)"}"#)[
                        "id"
                    ].string)
            let draft = try #require(
                api.post("/invoices", #"{"customer_id": "\#(customer)", "currency": "JPY"}"#)["id"].string)
            #expect(
                api.post(
                    "/invoice-items",
                    #"{"customer_id": "\#(customer)", "invoice_id": "\#(draft)", "description": "Ramen", "amount_cents": 1500}"#
                ).status == 201)
            #expect(api.get("/invoices/\(draft)")["hosted_invoice_url"] == .null)
            #expect(api.get("/invoices/\(draft)/pdf").status == 409)
            return api.post("/invoices/\(draft)/finalize")
        }

        @Test func aFinalizedInvoiceHasAPageAndAPDFThatNeverChanges() throws {
            let invoice = try finalizedInvoice()
            let url = try #require(invoice["hosted_invoice_url"].string)
            let token = String(url.split(separator: "/").last ?? "")
            #expect(token.count == 22)
            let page = api.get("/i/\(token)")
            #expect(page.status == 200)
            #expect(page.header("Content-Security-Policy")?.hasPrefix("default-src 'none'") == true)
            #expect(page.text.contains("¥1,500") && page.text.contains("Zoë &lt;b&gt;") && !page.text.contains("<b>"))
            let id = try #require(invoice["id"].string)
            let first = api.get("/invoices/\(id)/pdf")
            #expect(first.status == 200 && first.header("Content-Type") == "application/pdf")
            #expect(first.body.starts(with: Array("%PDF-".utf8)))
            #expect(api.get("/i/\(token)/pdf").body == first.body)
            #expect(api.get("/invoices/\(id)/pdf").body == first.body)
        }

        @Test func unknownMalformedAndDraftTokensAre404() {
            for token in ["AAAAAAAAAAAAAAAAAAAAAA", "short", String(repeating: "x", count: 300), "a%20b"] {
                #expect(api.get("/i/\(token)").status == 404)
                #expect(api.get("/i/\(token)/pdf").status == 404)
            }
        }

        @Test func reportParametersOutOfRangeAre422() {
            #expect(api.get("/reports/mrr").status == 200)
            #expect(api.get("/reports/mrr", query: "as_of=yesterday").status == 422)
            #expect(api.get("/reports/revenue").status == 422)
            #expect(
                api.get("/reports/revenue", query: "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z").status == 422)
            #expect(
                api.get("/reports/subscriptions", query: "from=2000-01-01T00:00:00Z&to=2040-01-01T00:00:00Z").status
                    == 422)
            let year = api.get(
                "/reports/mrr-movements", query: "from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=day")
            #expect(year.status == 200 && year["buckets"].count == 365)
            #expect(api.get("/reports/overdue", query: "currency=eur").status == 422)
        }
    }
}
