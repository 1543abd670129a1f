import Common
import Foundation
import Testing

extension InProcessAPI {
    /// `usage.md` through `API.handle`, in process against PostgreSQL: meters, plan charges,
    /// usage events counted once, current usage and a window billed after its grace.
    @Suite struct UsageRouteTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        private func code() -> String { "m-\(UUID().uuidString.prefix(8).lowercased())" }

        @Test func metersAndCharges() throws {
            let code = code()
            let meter = api.post(
                "/meters", #"{"code": "\#(code)", "name": "Tokens", "aggregation": "sum", "value_property": "n"}"#)
            #expect(meter.status == 201 && meter["aggregation"].string == "sum")
            let id = try #require(meter["id"].string)
            #expect(api.get("/meters/\(id)")["code"].string == code)
            #expect(api.post("/meters", #"{"code": "\#(code)", "name": "x", "aggregation": "count"}"#).status == 409)
            #expect(api.patch("/meters/\(id)", #"{"value_property": "m"}"#).status == 422)
            #expect(api.patch("/meters/\(id)", #"{"name": "Tokens used"}"#)["name"].string == "Tokens used")
            let plan = api.post(
                "/plans",
                #"{"code": "\#(self.code())", "name": "Metered", "amount_cents": 0, "currency": "EUR", "interval": "month", "charges": [{"meter_id": "\#(id)", "model": "per_unit", "unit_amount": "0.0004"}]}"#
            )
            #expect(plan.status == 201 && plan["charges"][0]["unit_amount"].string == "0.0004")
            let bad = api.post(
                "/plans",
                #"{"code": "\#(self.code())", "name": "x", "amount_cents": 0, "currency": "EUR", "interval": "month", "charges": [{"meter_id": "\#(id)", "model": "volume", "tiers": []}]}"#
            )
            #expect(bad.status == 422 && bad["errors"][0]["field"].string == "charges[0].tiers")
        }

        @Test func eventsCountOnceAndAreBilledAfterTheGrace() throws {
            let clock = try #require(api.post("/test-clocks", #"{"frozen_time": "2025-01-01T00:00:00Z"}"#)["id"].string)
            let code = code()
            let meter = try #require(
                api.post("/meters", #"{"code": "\#(code)", "name": "Calls", "aggregation": "count"}"#)["id"].string)
            let plan = try #require(
                api.post(
                    "/plans",
                    #"{"code": "\#(self.code())", "name": "Calls", "amount_cents": 0, "currency": "EUR", "interval": "month", "charges": [{"meter_id": "\#(meter)", "model": "package", "package_size": 2, "package_amount_cents": 100}]}"#
                )["id"].string)
            let customer = try #require(
                api.post(
                    "/customers",
                    #"{"email": "u-\#(UUID().uuidString.prefix(8))@example.com", "name": "U", "test_clock_id": "\#(clock)"}"#
                )["id"].string)
            let subscription = try #require(try api.subscription(customer: customer, plan: plan)["id"].string)
            let events = (0..<3).map { #"{"id": "e\#($0)", "meter": "\#(code)", "customer_id": "\#(customer)"}"# }
            let body = #"{"events": [\#(events.joined(separator: ", ")), \#(events[0])]}"#
            let first = api.post("/usage-events", body)
            #expect(first.status == 200 && first["accepted"].int == 3 && first["duplicates"].int == 1)
            #expect(api.post("/usage-events", body)["duplicates"].int == 4)
            let usage = api.get("/subscriptions/\(subscription)/usage")
            #expect(usage["charges"][0]["quantity"].string == "3" && usage["amount_cents"].int == 200)
            let late = #"{"events": [{"id": "x", "meter": "nope", "customer_id": "\#(customer)"}]}"#
            #expect(api.post("/usage-events", late)["errors"][0]["field"].string == "events[0].meter")

            #expect(
                api.post("/test-clocks/\(clock)/advance", #"{"frozen_time": "2025-02-01T00:30:00Z"}"#).status == 200)
            let draft = api.get("/invoices", query: "subscription_id=\(subscription)&limit=1")["data"][0]
            #expect(draft["status"].string == "draft" && draft["finalizes_at"].string == "2025-02-01T01:00:00Z")
            #expect(
                api.post("/test-clocks/\(clock)/advance", #"{"frozen_time": "2025-02-01T01:00:00Z"}"#).status == 200)
            let billed = api.get("/invoices/\(draft["id"].string ?? "")")
            #expect(billed["status"].string == "open" && billed["amount_due_cents"].int == 200)
            #expect(billed["lines"][1]["kind"].string == "usage" && billed["lines"][1]["quantity"].string == "3")
            let listed = api.get("/usage-events", query: "customer_id=\(customer)&limit=2")
            #expect(listed["data"].count == 2 && listed["has_more"].bool == true)
        }
    }
}
