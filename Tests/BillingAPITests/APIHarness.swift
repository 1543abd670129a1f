import Billing
import BillingAPI
import Common
import Foundation
import HTTP
import Logging
import Postgres
import Testing

/// The API called in process, as Hummingbird's `app.test(.router)` does: a plain request
/// value into `API.handle`, a real PostgreSQL behind it (`DATABASE_URL`, which `make unit`
/// and `make test` point at a throwaway cluster), no nginx and no FastCGI.
final class APIHarness {
    static let databaseURL = ProcessInfo.processInfo.environment["DATABASE_URL"]
    static let api = API.billing()

    let context: APIContext
    let key: String

    init() throws {
        let url = try #require(Self.databaseURL, "DATABASE_URL must point at a migrated database")
        context = APIContext(conninfo: url, config: BillingConfig(), logger: Logger(label: "test"))
        key = try APIKeyStore.create(name: "in-process tests", now: .now(), on: context.database()).secret
    }

    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }
        subscript(_ field: String) -> JSONValue { json[field] }
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    func send(
        _ method: String, _ path: String, query: String = "", body: String? = nil, key: String? = nil,
        idempotencyKey: String? = nil, remoteAddress: String = "127.0.0.1"
    ) -> Answer {
        let request = HTTPRequest(
            method: method, path: path, query: query, contentType: body == nil ? nil : "application/json",
            authorization: "Bearer \(key ?? self.key)", idempotencyKey: idempotencyKey, requestID: "test",
            remoteAddress: remoteAddress, body: Array((body ?? "").utf8))
        let response = Self.api.handle(request, context: context)
        return Answer(status: response.status, headers: response.headers, body: response.body)
    }

    func get(_ path: String, query: String = "") -> Answer { send("GET", path, query: query) }
    func post(_ path: String, _ body: String? = "{}", idempotencyKey: String? = nil) -> Answer {
        send("POST", path, body: body, idempotencyKey: idempotencyKey)
    }
    func patch(_ path: String, _ body: String) -> Answer { send("PATCH", path, body: body) }
    func delete(_ path: String) -> Answer { send("DELETE", path) }

    /// Creates what most tests start from and returns its id.
    func customer(email: String = "c-\(UUID().uuidString.prefix(12))@example.com") throws -> String {
        let answer = post("/customers", #"{"email": "\#(email)", "name": "In Process"}"#)
        try #require(answer.status == 201, "\(answer.text)")
        return try #require(answer["id"].string)
    }

    func plan(amount: Int = 1000, interval: String = "month", trialDays: Int = 0) throws -> String {
        let code = "p-\(UUID().uuidString.prefix(12))"
        let answer = post(
            "/plans",
            #"{"code": "\#(code)", "name": "Plan", "amount_cents": \#(amount), "currency": "EUR", "interval": "\#(interval)", "trial_days": \#(trialDays)}"#
        )
        try #require(answer.status == 201, "\(answer.text)")
        return try #require(answer["id"].string)
    }

    func subscription(customer: String, plan: String, extra: String = "") throws -> Answer {
        let answer = post("/subscriptions", #"{"customer_id": "\#(customer)", "plan_id": "\#(plan)"\#(extra)}"#)
        try #require(answer.status == 201, "\(answer.text)")
        return answer
    }
}

/// The suites that share the database run one test at a time: a list read by one test must
/// not change under it because another test is changing the same objects.
@Suite(.serialized, .database) enum InProcessAPI {}

extension Trait where Self == ConditionTrait {
    /// Runs only where a database is given (`make unit` and `make test` always give one).
    static var database: Self { .enabled(if: APIHarness.databaseURL != nil, "needs DATABASE_URL") }
}

extension JSONValue {
    subscript(_ field: String) -> JSONValue {
        guard case .object(let members) = self else { return .null }
        return members.first { $0.key == field }?.value ?? .null
    }
    subscript(_ index: Int) -> JSONValue {
        guard case .array(let items) = self, items.indices.contains(index) else { return .null }
        return items[index]
    }
    var string: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }
    var int: Int64? {
        guard case .number(let text) = self else { return nil }
        return Int64(text)
    }
    var bool: Bool? {
        guard case .bool(let flag) = self else { return nil }
        return flag
    }
    var count: Int {
        guard case .array(let items) = self else { return 0 }
        return items.count
    }
}
