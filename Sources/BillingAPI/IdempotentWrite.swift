import Billing
import Common
import HTTP
import Postgres

/// Runs a state-changing request in one transaction, honouring `Idempotency-Key` with
/// Stripe's semantics: the first response (errors included once the request ran) is
/// stored with the change itself and replayed for retries with the same body; the same
/// key with another body or path is a 422; a retry while the first still runs is a 409.
enum IdempotentWrite {
    static let maximumKeyLength = 255
    static let attempts = 3

    static func run(_ call: Call, _ perform: () throws -> HTTPResponse) throws -> HTTPResponse {
        let key = try validatedKey(call.request)
        let db = try call.database()
        var attempt = 1
        while true {
            do {
                return try db.transaction {
                    guard let key, let apiKeyID = call.apiKeyID else { return try perform() }
                    return try runOnce(call, key: key, apiKeyID: apiKeyID, db: db, perform)
                }
            } catch let error as PostgresError where error.isRetryable && attempt < attempts {
                attempt += 1
            }
        }
    }

    /// For work that manages its own transactions (the billing run, in batches): the key
    /// is checked first and the response stored after. The work itself is idempotent, so
    /// two concurrent first attempts are harmless; only the first response is kept.
    static func runOutsideTransaction(_ call: Call, _ perform: () throws -> HTTPResponse) throws -> HTTPResponse {
        guard let key = try validatedKey(call.request), let apiKeyID = call.apiKeyID else {
            return try perform()
        }
        let db = try call.database()
        let request = call.request
        let requestHash = SHA256.hash(request.body)
        if let replay = try db.transaction({ () throws -> HTTPResponse? in
            guard try IdempotencyStore.tryLock(apiKeyID: apiKeyID, key: key, on: db) else { throw inProgress }
            return try replayIfStored(request, apiKeyID: apiKeyID, key: key, requestHash: requestHash, db: db)
        }) {
            return replay
        }
        let response: HTTPResponse
        do {
            response = try perform()
        } catch let error where error is BillingError || error is Problem {
            response = ErrorMapping.problem(for: error, context: call.context).response(requestID: request.requestID)
        }
        try db.transaction {
            try IdempotencyStore.save(
                apiKeyID: apiKeyID, key: key, method: request.method, path: request.path, requestHash: requestHash,
                status: response.status, body: response.body, now: call.now, on: db)
        }
        return response
    }

    /// Runs `perform` in a transaction that is always rolled back, and answers what it
    /// answered: a preview stores nothing, an Idempotency-Key is not even looked at.
    static func rolledBack(_ call: Call, _ perform: () throws -> HTTPResponse) throws -> HTTPResponse {
        struct Discarded: Error { var response: HTTPResponse }
        let db = try call.database()
        do {
            try db.transaction { () throws -> Void in throw Discarded(response: try perform()) }
        } catch let discarded as Discarded {
            return discarded.response
        }
        throw Problem.serviceUnavailable("the preview could not run")
    }

    static let badKey = Problem.badRequest(
        "Idempotency-Key must be sent once, as 1 to \(maximumKeyLength) printable ASCII characters")

    static let inProgress = Problem.conflict(
        "a request with this Idempotency-Key is still being processed; retry later", slug: "idempotency-key-in-use")

    /// The stored response for a retry of the same request, a 422 for another request
    /// under the same key, or nil for a key not used yet.
    private static func replayIfStored(
        _ request: HTTPRequest, apiKeyID: UUID128, key: String, requestHash: [UInt8], db: Connection
    ) throws -> HTTPResponse? {
        guard let stored = try IdempotencyStore.find(apiKeyID: apiKeyID, key: key, on: db) else { return nil }
        guard stored.method == request.method, stored.path == request.path, stored.requestHash == requestHash else {
            throw Problem(
                status: 422, slug: "idempotency-key-reused", title: "Idempotency key reused",
                detail: "this Idempotency-Key was used with a different request")
        }
        var replay = HTTPResponse.json(stored.status, bytes: Array(stored.body.utf8))
        replay.headers.append(("Idempotent-Replayed", "true"))
        return replay
    }

    /// A key is 1…255 printable ASCII characters, sent once: anything else could make two
    /// different keys one (invalid bytes repaired alike) or pick one of two keys silently.
    private static func validatedKey(_ request: HTTPRequest) throws -> String? {
        guard !request.idempotencyKeyUnreadable else { throw badKey }
        guard let key = request.idempotencyKey else { return nil }
        guard (1...maximumKeyLength).contains(key.utf8.count), key.utf8.allSatisfy({ (0x20...0x7E).contains($0) })
        else { throw badKey }
        return key
    }

    private static func runOnce(
        _ call: Call, key: String, apiKeyID: UUID128, db: Connection, _ perform: () throws -> HTTPResponse
    ) throws -> HTTPResponse {
        let request = call.request
        guard try IdempotencyStore.tryLock(apiKeyID: apiKeyID, key: key, on: db) else { throw inProgress }
        let requestHash = SHA256.hash(request.body)
        if let replay = try replayIfStored(request, apiKeyID: apiKeyID, key: key, requestHash: requestHash, db: db) {
            return replay
        }
        var response: HTTPResponse
        do {
            response = try db.savepoint { try perform() }
        } catch let error where error is BillingError || error is Problem {
            // The request ran and failed on a business rule: that outcome is the answer to
            // every retry, so it is stored too, without the partial changes.
            response = ErrorMapping.problem(for: error, context: call.context).response(
                requestID: request.requestID)
        }
        try IdempotencyStore.save(
            apiKeyID: apiKeyID, key: key, method: request.method, path: request.path, requestHash: requestHash,
            status: response.status, body: response.body, now: call.now, on: db)
        return response
    }
}
