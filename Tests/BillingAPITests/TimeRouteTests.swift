import Billing
import Common
import Foundation
import Postgres
import Testing

extension InProcessAPI {
    /// `time.md` through `API.handle`, in process against PostgreSQL: time zones, test
    /// clocks, anchors, pauses and scheduled changes, each route's happy path and refusals.
    @Suite struct TimeRouteTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        private func clockCustomer(_ clock: String, extra: String = "") throws -> String {
            let email = "t-\(UUID().uuidString.prefix(12))@example.com"
            let created = api.post(
                "/customers", #"{"email": "\#(email)", "name": "Clocked", "test_clock_id": "\#(clock)"\#(extra)}"#)
            #expect(created.status == 201)
            return try #require(created["id"].string)
        }

        @Test func timeZones() throws {
            let customer = try api.customer()
            #expect(api.get("/customers/\(customer)")["timezone"].string == "UTC")
            #expect(
                api.patch("/customers/\(customer)", #"{"timezone": "Europe/Paris"}"#)["timezone"].string
                    == "Europe/Paris")
            #expect(api.patch("/customers/\(customer)", #"{"timezone": "Mars/Base"}"#).status == 422)
            _ = try api.subscription(customer: customer, plan: try api.plan())
            #expect(api.patch("/customers/\(customer)", #"{"timezone": "Asia/Tokyo"}"#).status == 409)
        }

        @Test func testClocksAndAdvances() throws {
            let clock = api.post("/test-clocks", #"{"frozen_time": "2025-01-01T00:00:00Z", "name": "in process"}"#)
            #expect(clock.status == 201 && clock["status"].string == "ready")
            let id = try #require(clock["id"].string)
            #expect(api.get("/test-clocks/\(id)")["frozen_time"].string == "2025-01-01T00:00:00Z")
            #expect(api.get("/test-clocks", query: "limit=1")["data"].count == 1)
            let customer = try clockCustomer(id)
            #expect(api.get("/customers/\(customer)")["created_at"].string == "2025-01-01T00:00:00Z")
            let subscription = try api.subscription(customer: customer, plan: try api.plan())
            #expect(subscription["start_at"].string == "2025-01-01T00:00:00Z")
            let first = api.get("/invoices", query: "subscription_id=\(subscription["id"].string ?? "")")
            #expect(
                api.post("/invoices/\(first["data"][0]["id"].string ?? "")/pay")["paid_at"].string
                    == "2025-01-01T00:00:00Z")
            let advanced = api.post("/test-clocks/\(id)/advance", #"{"frozen_time": "2025-02-01T00:00:00Z"}"#)
            #expect(advanced.status == 200 && advanced["frozen_time"].string == "2025-02-01T00:00:00Z")
            let invoices = api.get("/invoices", query: "subscription_id=\(subscription["id"].string ?? "")")
            #expect(invoices["data"].count == 2)
            #expect(api.post("/test-clocks/\(id)/advance", #"{"frozen_time": "2025-01-15T00:00:00Z"}"#).status == 422)
            #expect(api.post("/test-clocks/\(id)/advance", #"{"frozen_time": "2027-02-02T00:00:00Z"}"#).status == 422)
            #expect(api.post("/test-clocks", #"{"frozen_time": "1999-01-01T00:00:00Z"}"#).status == 422)
            let unknown = "01a229b9-080f-7876-af6a-c193ce7128bd"
            #expect(
                api.post("/test-clocks/\(unknown)/advance", #"{"frozen_time": "2025-02-01T00:00:00Z"}"#).status == 404)
            #expect(api.patch("/customers/\(customer)", #"{"test_clock_id": null}"#).status == 422)
        }

        /// An advance's shards: disjoint ranges of the clock's customers that cover them all,
        /// their sizes at most one apart; fewer customers than shards make one shard.
        @Test func aClocksCustomersAreSplitIntoEvenShards() throws {
            let clock = try #require(api.post("/test-clocks", #"{"frozen_time": "2025-01-01T00:00:00Z"}"#)["id"].string)
            let id = try #require(ID<TestClock>(parsing: clock))
            let db = try api.context.database()
            #expect(try BillingRun.Shard.splitting(customersOf: id, into: 2, on: db) == [.whole])
            _ = try clockCustomer(clock)
            #expect(try BillingRun.Shard.splitting(customersOf: id, into: 2, on: db) == [.whole])
            for _ in 0..<6 { _ = try clockCustomer(clock) }
            for count in [2, 3, 7] {
                let shards = try BillingRun.Shard.splitting(customersOf: id, into: count, on: db)
                #expect(shards.count == count)
                let sizes = try shards.map { shard in
                    try db.query(
                        """
                        SELECT count(*) FROM customers WHERE test_clock_id = \(id) \
                        AND (\(shard.from)::uuid IS NULL OR id >= \(shard.from)) AND (\(shard.upTo)::uuid IS NULL OR id < \(shard.upTo))
                        """)[0].int64(0) ?? -1
                }
                #expect(sizes.reduce(0, +) == 7 && sizes.max()! - sizes.min()! <= 1, "\(count) shards: \(sizes)")
            }
        }

        @Test func anchorsPausesAndScheduledChanges() throws {
            let clock = try #require(api.post("/test-clocks", #"{"frozen_time": "2025-01-15T10:00:00Z"}"#)["id"].string)
            let basic = try api.plan(amount: 1000)
            let pro = try api.plan(amount: 3000)
            let anchored = try api.subscription(
                customer: try clockCustomer(clock), plan: pro,
                extra: #", "billing_cycle_anchor": "2025-02-01T00:00:00Z""#)
            #expect(anchored["current_period_end"].string == "2025-02-01T00:00:00Z")
            let tooFar = api.post(
                "/subscriptions",
                #"{"customer_id": "\#(try clockCustomer(clock))", "plan_id": "\#(pro)", "billing_cycle_anchor": "2025-03-01T00:00:00Z"}"#
            )
            #expect(tooFar.status == 422 && tooFar["errors"][0]["field"].string == "billing_cycle_anchor")

            let id = try #require(anchored["id"].string)
            let paused = api.post("/subscriptions/\(id)/pause", #"{"behavior": "keep_as_draft"}"#)
            #expect(paused.status == 200 && paused["pause_collection"]["behavior"].string == "keep_as_draft")
            #expect(api.post("/subscriptions/\(id)/pause", #"{"behavior": "skip"}"#).status == 422)
            #expect(api.post("/subscriptions/\(id)/unpause")["pause_collection"] == .null)

            let scheduled = api.post(
                "/subscriptions/\(id)/change-plan", #"{"plan_id": "\#(basic)", "at_period_end": true}"#)
            #expect(scheduled.status == 200 && scheduled["invoice"] == .null)
            #expect(scheduled["pending_update"]["effective_at"].string == "2025-02-01T00:00:00Z")
            #expect(api.delete("/subscriptions/\(id)/pending-update")["pending_update"] == .null)
            #expect(api.post("/subscriptions/\(id)/cancel").status == 200)
            #expect(api.post("/subscriptions/\(id)/pause", #"{"behavior": "void"}"#).status == 409)
        }
    }
}
