import Billing
import Common
import Postgres
import Testing

extension InProcessAPI {
    /// The sender's claims (`WebhookDeliveryStore.claim`), in process against PostgreSQL:
    /// each endpoint's next claim starts past its last claimed delivery, and a claim from
    /// the first finds again what was given back before that position.
    @Suite struct WebhookClaimTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        /// A new endpoint for `plan.created` on loopback (allowed here), and five plans made
        /// after it: five deliveries of its own.
        func endpointWithFiveDeliveries(path: String, on db: Connection) throws -> ID<WebhookEndpoint> {
            var settings = WebhookSettings()
            settings.allowHTTP = true
            settings.allowPrivate = true
            let endpoint = try WebhookEndpointService.create(
                .init(url: "http://127.0.0.1:9/\(path)", enabledEvents: ["plan.created"], description: nil),
                now: .now(), settings: settings, on: db
            ).id
            for _ in 0..<5 { _ = try api.plan() }
            return endpoint
        }

        @Test func aClaimPastAPositionSkipsWhatCameBeforeAndOneFromTheFirstFindsIt() throws {
            let db = try api.context.database()
            let endpoint = try endpointWithFiveDeliveries(path: "claims", on: db)
            defer { _ = try? WebhookEndpointService.delete(endpoint, now: .now(), on: db) }

            // `fresh: 0`: no other endpoint's deliveries (other tests may have made some).
            func claim(_ count: Int, after: WebhookDeliveryStore.Position?) throws -> [WebhookDeliveryStore.Claimed] {
                try WebhookDeliveryStore.claim(
                    limit: 100, wanted: [.init(endpoint: endpoint, count: count, after: after)], fresh: 0, lease: 60,
                    now: .now(), on: db)
            }
            let first = try claim(2, after: nil)
            #expect(first.count == 2)
            let rest = try claim(10, after: first.map(\.position).max())
            #expect(rest.count == 3)
            let all = first + rest
            #expect(all.map(\.eventSeq) == all.map(\.eventSeq).sorted())
            #expect(all.map(\.position) == all.map(\.position).sorted())
            #expect(Set(all.map(\.id)).count == 5)

            // Given back (a sender that stopped): before the last position, so only a claim
            // from the first finds them.
            try WebhookDeliveryStore.release(first, on: db)
            #expect(try claim(10, after: all.map(\.position).max()).isEmpty)
            #expect(try claim(10, after: nil).map(\.id) == first.map(\.id))
        }

        /// One index, `(endpoint_id, event_seq)`, both lists an endpoint's deliveries (in
        /// its events' order, newest first, page by page) and keeps each event to one
        /// delivery per endpoint.
        @Test func deliveriesAreListedInEventOrderAndAnEventIsDeliveredOncePerEndpoint() throws {
            let db = try api.context.database()
            let endpoint = try endpointWithFiveDeliveries(path: "order", on: db)
            defer { _ = try? WebhookEndpointService.delete(endpoint, now: .now(), on: db) }

            let newest = try WebhookDeliveryStore.list(
                endpoint: endpoint, status: nil, page: PageRequest(limit: 3), on: db)
            let older = try WebhookDeliveryStore.list(
                endpoint: endpoint, status: nil, page: PageRequest(limit: 3, startingAfter: newest.data.last?.id.uuid),
                on: db)
            #expect(newest.hasMore && !older.hasMore)
            let listed = (newest.data + older.data).map(\.eventID)
            let events = try db.query(
                """
                SELECT e.id FROM events e JOIN webhook_deliveries d ON d.event_id = e.id \
                WHERE d.endpoint_id = \(endpoint) ORDER BY e.seq DESC
                """
            ).rows.compactMap { $0.string(0).flatMap { ID<Event>(parsing: $0) } }
            #expect(listed == events && listed.count == 5)

            let again = #expect(throws: PostgresError.self) {
                try db.query(
                    """
                    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_seq, event_type, next_attempt_at) \
                    SELECT gen_random_uuid(), endpoint_id, event_id, event_seq, event_type, now() FROM webhook_deliveries \
                    WHERE endpoint_id = \(endpoint) LIMIT 1
                    """)
            }
            #expect(again?.constraint == "webhook_deliveries_endpoint_event_seq_key")
        }

        /// A delivery's id carries its key (sql/0026): it is found by that key, with no index
        /// on `id`, and an id that is no delivery's finds nothing.
        @Test func aDeliveryIsFoundByTheKeyItsIdCarries() throws {
            let db = try api.context.database()
            let endpoint = try endpointWithFiveDeliveries(path: "key", on: db)
            defer { _ = try? WebhookEndpointService.delete(endpoint, now: .now(), on: db) }

            let rows = try db.query(
                """
                SELECT d.id, w.seq, d.event_seq FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                WHERE d.endpoint_id = \(endpoint)
                """
            ).rows
            #expect(rows.count == 5)
            for row in rows {
                let id = try #require(row.string(0).flatMap { ID<WebhookDelivery>(parsing: $0) })
                let key = WebhookDeliveryKey(endpointSeq: Int64(row.string(1)!)!, eventSeq: Int64(row.string(2)!)!)
                #expect(WebhookDeliveryKey(id) == key)
                #expect(try WebhookDeliveryStore.get(id, on: db).id == id)
            }
            for stranger in [ID<WebhookDelivery>.generate(), ID(parsing: "9b2f4c1e-8a3d-4e5f-9a6b-7c8d9e0f1a2b")!] {
                #expect(throws: BillingError.self) { try WebhookDeliveryStore.get(stranger, on: db) }
            }
        }
    }
}
