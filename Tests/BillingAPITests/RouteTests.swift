import Common
import Foundation
import Testing

extension InProcessAPI {
    /// Every route's happy path and its main refusals, through `API.handle` in process.
    @Suite struct RouteTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        @Test func healthNeedsNoKey() {
            let health = api.send("GET", "/health", key: "wrong")
            #expect(health.status == 200 && health.text == #"{"status":"ok"}"#)
            #expect(api.send("GET", "/health/ready", key: "wrong")["migrations"].string == "current")
            #expect(api.send("GET", "/health/db", key: "wrong")["database"].string == "ok")
        }

        @Test func aWrongKeyIs401AndAnUnknownRoute404AndAnotherMethod405() {
            #expect(api.send("GET", "/customers", key: "bk_wrong").status == 401)
            #expect(api.get("/nope").status == 404)
            let wrongMethod = api.send("DELETE", "/customers")
            #expect(wrongMethod.status == 405 && wrongMethod.header("Allow")?.contains("POST") == true)
        }

        @Test func customers() throws {
            let email = "ada-\(UUID().uuidString.prefix(8))@example.com"
            let id = try api.customer(email: email)
            #expect(api.get("/customers/\(id)")["email"].string == email)
            #expect(api.get("/customers", query: "email=\(email.uppercased())")["data"].count == 1)
            let patched = api.patch("/customers/\(id)", #"{"name": "Ada L.", "metadata": {"tier": "gold"}}"#)
            #expect(patched.status == 200 && patched["metadata"]["tier"].string == "gold")
            #expect(api.post("/customers", #"{"email": "\#(email)", "name": "Again"}"#).status == 409)
            #expect(api.post("/customers", #"{"email": "not-an-email", "name": "X"}"#).status == 422)
            #expect(
                api.post("/customers", #"{"email": "x@y.co", "name": "X", "typo": 1}"#)["errors"][0]["field"].string
                    == "typo")
            #expect(api.post("/customers", "{").status == 400)
            #expect(api.send("POST", "/customers", body: nil).status == 415)
            #expect(api.get("/customers/not-a-uuid").status == 404)
            #expect(api.get("/customers", query: "limit=0").status == 422)
            #expect(api.get("/customers", query: "starting_after=01a229b9-080f-7876-af6a-c193ce7128bd").status == 422)
        }

        @Test func plans() throws {
            let id = try api.plan(amount: 2500)
            #expect(api.get("/plans/\(id)")["amount_cents"].int == 2500)
            #expect(api.get("/plans", query: "is_active=true")["data"].count >= 1)
            #expect(api.patch("/plans/\(id)", #"{"is_active": false}"#)["is_active"].bool == false)
            #expect(api.patch("/plans/\(id)", #"{"amount_cents": 1}"#).status == 422)
            let bad = api.post(
                "/plans", #"{"code": "x", "name": "X", "amount_cents": -1, "currency": "AAA", "interval": "decade"}"#)
            #expect(bad.status == 422 && bad["errors"].count == 3)
        }

        @Test func subscriptionsAndTheirFirstInvoice() throws {
            let customer = try api.customer()
            let plan = try api.plan(amount: 1000)
            let subscription = try api.subscription(customer: customer, plan: plan)
            #expect(subscription["status"].string == "active")
            let id = try #require(subscription["id"].string)
            #expect(api.get("/subscriptions/\(id)")["plan_id"].string == plan)
            #expect(api.get("/subscriptions", query: "customer_id=\(customer)&status=active")["data"].count == 1)
            let invoices = api.get("/customers/\(customer)/invoices")["data"]
            #expect(invoices.count == 1 && invoices[0]["amount_cents"].int == 1000)
            #expect(invoices[0]["billing_reason"].string == "subscription_create")
            // One live subscription per customer; missing and inactive plans.
            #expect(
                api.post("/subscriptions", #"{"customer_id": "\#(customer)", "plan_id": "\#(plan)"}"#).status == 409)
            let other = try api.customer()
            #expect(
                api.post(
                    "/subscriptions",
                    #"{"customer_id": "\#(other)", "plan_id": "01a229b9-080f-7876-af6a-c193ce7128bd"}"#
                ).status == 404)
            #expect(
                api.post(
                    "/subscriptions",
                    #"{"customer_id": "\#(other)", "plan_id": "\#(plan)", "start_at": "1999-12-31T23:59:59Z"}"#
                )
                .status == 422)
        }

        @Test func aTrialIsAPaidZeroInvoice() throws {
            let subscription = try api.subscription(customer: try api.customer(), plan: try api.plan(trialDays: 14))
            #expect(subscription["status"].string == "trialing")
            let invoice = api.get("/invoices", query: "subscription_id=\(subscription["id"].string ?? "")")["data"][0]
            #expect(invoice["status"].string == "paid" && invoice["lines"][0]["kind"].string == "trial")
        }

        @Test func subscriptionActions() throws {
            let customer = try api.customer()
            let basic = try api.plan(amount: 1000)
            let pro = try api.plan(amount: 3000)
            let id = try #require(try api.subscription(customer: customer, plan: basic)["id"].string)
            let changed = api.post("/subscriptions/\(id)/change-plan", #"{"plan_id": "\#(pro)"}"#)
            #expect(changed.status == 200 && changed["plan_id"].string == pro)
            #expect(changed["invoice"]["lines"].count == 2)
            // The same plan and quantity again is no change at all.
            #expect(api.post("/subscriptions/\(id)/change-plan", #"{"plan_id": "\#(pro)"}"#).status == 422)
            #expect(api.post("/subscriptions/\(id)/change-plan", #"{}"#)["errors"][0]["field"].string == "plan_id")
            #expect(
                api.post("/subscriptions/\(id)/cancel", #"{"at_period_end": true}"#)["cancel_at_period_end"].bool
                    == true)
            #expect(api.post("/subscriptions/\(id)/resume")["cancel_at_period_end"].bool == false)
            #expect(api.post("/subscriptions/\(id)/cancel", #"{"at_period_end": true, "prorate": true}"#).status == 422)
            let canceled = api.post("/subscriptions/\(id)/cancel", #"{"prorate": true}"#)
            #expect(canceled["status"].string == "canceled")
            #expect(api.post("/subscriptions/\(id)/cancel").status == 409)
            #expect(api.post("/subscriptions/\(id)/resume").status == 409)
        }

        @Test func invoiceTransitions() throws {
            let subscription = try api.subscription(customer: try api.customer(), plan: try api.plan())
            let invoices = api.get("/invoices", query: "subscription_id=\(subscription["id"].string ?? "")")
            let invoice = try #require(invoices["data"][0]["id"].string)
            #expect(api.get("/invoices/\(invoice)")["lines"].count == 1)
            #expect(api.post("/invoices/\(invoice)/pay", #"{"paid_at": "2000-01-01T00:00:00Z"}"#).status == 422)
            #expect(api.post("/invoices/\(invoice)/mark-uncollectible")["status"].string == "uncollectible")
            #expect(api.post("/invoices/\(invoice)/void").status == 409)
            #expect(api.post("/invoices/\(invoice)/pay")["status"].string == "paid")
            #expect(api.post("/invoices/\(invoice)/pay").status == 409)
            #expect(api.post("/invoices/01a229b9-080f-7876-af6a-c193ce7128bd/void").status == 404)
        }

        @Test func billingRunAndEvents() throws {
            let run = api.post("/billing/run", nil)
            #expect(run.status == 200 && run["invoices_created"].int != nil)
            #expect(api.post("/billing/run", #"{"as_of": "2999-01-01T00:00:00Z"}"#).status == 422)
            #expect(api.get("/events", query: "type=customer.created&limit=1")["data"].count == 1)
            #expect(api.get("/events", query: "type=nope").status == 422)
        }

        /// Cause before effect: a subscription's creation, then the invoice it made, then the
        /// customer that invoice gave a currency — the order receivers of webhooks will see.
        @Test func eventsOfOneTransactionComeInCauseThenEffectOrder() throws {
            let customer = try api.customer()
            let subscription = try api.subscription(customer: customer, plan: try api.plan())
            let id = try #require(subscription["id"].string)
            let events = api.get("/events", query: "limit=100")["data"]
            var mine: [String] = []
            for index in (0..<events.count).reversed() {
                let event = events[index]
                let data = event["data"]
                if data["id"].string == id || data["subscription_id"].string == id
                    || (data["id"].string == customer && event["type"].string == "customer.updated")
                {
                    mine.append(event["type"].string ?? "")
                }
            }
            #expect(mine == ["subscription.created", "invoice.created", "invoice.finalized", "customer.updated"])
        }

        @Test func idempotentReplayAndRefusals() throws {
            let key = "k-\(UUID().uuidString)"
            let body = #"{"email": "\#(key.prefix(20))@example.com", "name": "Keyed"}"#
            let first = api.post("/customers", body, idempotencyKey: key)
            let again = api.post("/customers", body, idempotencyKey: key)
            #expect(first.status == 201 && again.body == first.body && again.header("Idempotent-Replayed") == "true")
            #expect(
                api.post("/customers", #"{"email": "z@example.com", "name": "Other"}"#, idempotencyKey: key).status
                    == 422)
            #expect(api.post("/customers", body, idempotencyKey: "").status == 400)
            #expect(api.post("/customers", body, idempotencyKey: "tab\there").status == 400)
        }
    }
}
