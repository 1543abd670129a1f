import Billing
import BillingAPI
import Common
import Foundation
import HTTP
import Logging
import Postgres
import Testing

extension InProcessAPI {
    /// Reads taken together (`API.handle(batch:…)`) answer exactly as each read alone, for every
    /// GET route; and the rule that makes it sound holds: the first statement a GET sends is a
    /// read (a SELECT), so fetching it a moment early changes nothing.
    @Suite struct BatchingTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        /// One request for every GET route of the API, with ids of real objects. Lists page
        /// from an object of this test (`starting_after`), and no other test of the database
        /// runs meanwhile (`InProcessAPI` is serialized), so each page is the same twice.
        func everyGET() throws -> [HTTPRequest] {
            let customer = try api.customer()
            let plan = try api.plan()
            let subscription = try #require(try api.subscription(customer: customer, plan: plan)["id"].string)
            let invoice = try #require(api.get("/invoices", query: "customer_id=\(customer)")["data"][0]["id"].string)
            let event = try #require(api.get("/events", query: "limit=1")["data"][0]["id"].string)
            let ids = ["customers": customer, "plans": plan, "subscriptions": subscription, "invoices": invoice]
            var requests: [HTTPRequest] = []
            for label in APIHarness.api.routeLabels where label.hasPrefix("GET ") {
                var path = String(label.dropFirst(4))
                let resource = path.split(separator: "/").first.map(String.init) ?? ""
                path = path.replacingOccurrences(of: "{id}", with: ids[resource] ?? "")
                var query = ""
                if path.split(separator: "/").count == 1, let after = ids[resource] {
                    query = "limit=5&starting_after=\(after)"
                }
                if path == "/events" { query = "limit=5&starting_after=\(event)" }
                if path.hasSuffix("/invoices") && path.hasPrefix("/customers/") { query = "limit=5" }
                requests.append(
                    HTTPRequest(
                        method: "GET", path: path, query: query, authorization: "Bearer \(api.key)", requestID: label))
            }
            #expect(requests.count >= 13, "every GET route is covered")
            return requests
        }

        @Test func everyGETAnswersTheSameTakenTogetherAsAlone() throws {
            let requests = try everyGET()
            // A preview is made "now": both ways must answer within one second to compare.
            var alone: [HTTPResponse] = []
            var answers: [HTTPResponse?] = []
            var carried = 0
            for _ in 1...3 {
                let started = Timestamp.now()
                alone = requests.map { APIHarness.api.handle($0, context: api.context) }
                // Another thread's context, as a second worker thread would have.
                let together = try APIHarness()
                answers = [HTTPResponse?](repeating: nil, count: requests.count)
                APIHarness.api.handle(batch: requests, context: together.context) { fetch in
                    carried = fetch()
                } answer: { index, _, run in
                    answers[index] = run()
                }
                if Timestamp.now() == started { break }
            }
            #expect(carried > 1, "the reads shared a round trip")
            for (index, request) in requests.enumerated() {
                let answer = try #require(answers[index], "\(request.path) was answered")
                #expect(answer.status == alone[index].status, "\(request.path)")
                #expect(
                    answer.body == alone[index].body,
                    "\(request.path)?\(request.query): \(String(decoding: answer.body, as: UTF8.self))")
            }
        }

        @Test func theFirstStatementOfEveryGETIsARead() throws {
            for request in try everyGET() {
                // Nil: answered without the database (`/health`), nothing to fetch early.
                guard let sql = APIHarness.api.firstStatementSQL(of: request, context: api.context) else { continue }
                let verb = sql.prefix { $0 != " " }.uppercased()
                #expect(verb == "SELECT" || verb == "WITH", "\(request.path): \(sql)")
            }
        }
    }
}
