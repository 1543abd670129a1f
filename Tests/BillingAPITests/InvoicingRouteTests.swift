import Common
import Foundation
import Testing

extension InProcessAPI {
    /// `invoicing.md` §1–4 and §9 through `API.handle`, in process against PostgreSQL.
    @Suite struct InvoicingRouteTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        @Test func aDraftTakesPendingItemsIsFinalizedAndPaidInParts() throws {
            let customer = try api.customer()
            let item = api.post(
                "/invoice-items",
                #"{"customer_id": "\#(customer)", "description": "Setup", "currency": "EUR", "unit_amount_cents": 333, "quantity": 3}"#
            )
            #expect(item.status == 201 && item["amount_cents"].int == 999 && item["invoice_id"] == .null)
            let draft = api.post("/invoices", #"{"customer_id": "\#(customer)", "days_until_due": 0}"#)
            #expect(draft.status == 201 && draft["status"].string == "draft" && draft["number"] == .null)
            let id = try #require(draft["id"].string)
            #expect(draft["lines"][0]["kind"].string == "item" && draft["amount_due_cents"].int == 999)
            #expect(api.get("/invoice-items", query: "customer_id=\(customer)&pending=true")["data"].count == 0)
            #expect(api.post("/invoices/\(id)/payments", #"{"amount_cents": 1}"#).status == 409)

            let open = api.post("/invoices/\(id)/finalize")
            #expect(open.status == 200 && open["status"].string == "open")
            #expect(open["number"].string?.hasPrefix("INV-") == true && open["due_at"] == open["finalized_at"])
            #expect(api.post("/invoices/\(id)/finalize").status == 409)
            #expect(api.delete("/invoices/\(id)").status == 409)

            #expect(api.post("/invoices/\(id)/payments", #"{"amount_cents": 1000}"#).status == 422)
            #expect(api.post("/invoices/\(id)/payments", #"{"amount_cents": 400}"#).status == 201)
            let rest = api.post("/invoices/\(id)/pay")
            #expect(rest["status"].string == "paid" && rest["amount_paid_cents"].int == 999)
            #expect(api.get("/invoices/\(id)/payments")["data"].count == 2)
        }

        @Test func aDeletedDraftFreesItsItems() throws {
            let customer = try api.customer()
            let draft = api.post("/invoices", #"{"customer_id": "\#(customer)", "currency": "EUR"}"#)
            let id = try #require(draft["id"].string)
            let item = api.post(
                "/invoice-items",
                #"{"customer_id": "\#(customer)", "description": "Fee", "amount_cents": 100, "invoice_id": "\#(id)"}"#)
            #expect(item["invoice_id"].string == id)
            #expect(api.get("/invoices/\(id)")["subtotal_cents"].int == 100)
            let itemID = try #require(item["id"].string)
            #expect(api.patch("/invoice-items/\(itemID)", #"{"quantity": 4}"#)["amount_cents"].int == 400)
            #expect(api.get("/invoices/\(id)")["subtotal_cents"].int == 400)
            let second = api.post("/invoices", #"{"customer_id": "\#(customer)"}"#)
            let secondID = try #require(second["id"].string)
            let other = api.post(
                "/invoice-items",
                #"{"customer_id": "\#(customer)", "description": "Other", "amount_cents": 5, "invoice_id": "\#(secondID)"}"#
            )
            let deleted = api.delete("/invoices/\(secondID)")
            #expect(deleted.status == 200 && deleted["deleted"].bool == true)
            #expect(api.get("/invoices/\(secondID)").status == 404)
            #expect(api.get("/invoice-items/\(other["id"].string ?? "")")["invoice_id"] == .null)
            #expect(api.delete("/invoice-items/\(other["id"].string ?? "")").status == 200)
            #expect(api.get("/invoice-items/\(other["id"].string ?? "")").status == 404)
        }

        @Test func seatsChangeAndPreviewsStoreNothing() throws {
            let customer = try api.customer()
            let plan = try api.plan(amount: 1000)
            let subscription = try api.subscription(customer: customer, plan: plan, extra: #", "quantity": 2"#)
            let id = try #require(subscription["id"].string)
            #expect(subscription["quantity"].int == 2)
            let upcoming = api.get("/subscriptions/\(id)/upcoming-invoice")
            #expect(upcoming.status == 200 && upcoming["id"] == .null && upcoming["amount_due_cents"].int == 2000)
            let events = api.get("/events", query: "limit=1")["data"][0]["id"]
            let preview = api.post("/subscriptions/\(id)/change-plan", #"{"quantity": 5, "preview": true}"#)
            #expect(preview.status == 200 && preview["quantity"].int == 5 && preview["invoice"]["id"] == .null)
            #expect(api.get("/events", query: "limit=1")["data"][0]["id"] == events, "a preview appends no event")
            #expect(api.get("/subscriptions/\(id)")["quantity"].int == 2)
            let changed = api.post("/subscriptions/\(id)/change-plan", #"{"quantity": 5}"#)
            #expect(changed["quantity"].int == 5 && changed["invoice"]["lines"].count == 2)
            #expect(api.post("/subscriptions/\(id)/change-plan", #"{"quantity": 5}"#).status == 422)
            #expect(api.post("/subscriptions/\(id)/change-plan", #"{"quantity": 0}"#).status == 422)
        }
    }
}
