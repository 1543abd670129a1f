import Common
import HTTP
import Testing

@Suite struct FieldReaderTests {
    private func reader(_ json: String) throws -> FieldReader { try FieldReader(body: Array(json.utf8)) }

    private func errors(_ json: String, _ read: (inout FieldReader) -> Void) -> [FieldError] {
        do {
            var fields = try reader(json)
            read(&fields)
            try fields.finish()
            return []
        } catch let problem as Problem {
            return problem.errors.isEmpty ? [FieldError(field: "status", message: "\(problem.status)")] : problem.errors
        } catch {
            return [FieldError(field: "error", message: "\(error)")]
        }
    }

    @Test func malformedJSONIs400AndNonObjectsAre422() {
        #expect(throws: Problem.malformedJSON("invalid JSON at byte 1: expected a string key")) { try reader("{,}") }
        #expect(
            throws: Problem.validation(field: "body", "must be a JSON object, not array")
        ) { try reader("[1]") }
    }

    @Test func readsValidFields() throws {
        var fields = try reader(
            #"{"name": "Ada", "amount_cents": 1000000000000, "active": true, "id": "01a2135a-6f24-7ec5-8c14-5bff7fc75624", "at": "2026-01-31T12:00:00+02:00", "metadata": {"k": "v"}}"#
        )
        #expect(fields.string("name", required: true) == "Ada")
        #expect(fields.integer("amount_cents", in: 0...1_000_000_000_000) == 1_000_000_000_000)
        #expect(fields.bool("active") == true)
        #expect(fields.id("id", as: Void.self)?.description == "01a2135a-6f24-7ec5-8c14-5bff7fc75624")
        #expect(fields.timestamp("at")?.description == "2026-01-31T10:00:00Z")
        #expect(fields.stringMap("metadata") == [JSONMember(key: "k", value: .string("v"))])
        try fields.finish()
    }

    @Test(arguments: [
        (#"{"amount_cents": -1}"#, "must be from 0 to 1000000000000"),
        (#"{"amount_cents": 10000000000000}"#, "must be from 0 to 1000000000000"),
        (#"{"amount_cents": 1.5}"#, "must be an integer"),
        (#"{"amount_cents": 1e3}"#, "must be an integer"),
        (#"{"amount_cents": 99999999999999999999999}"#, "must be from 0 to 1000000000000"),
        (#"{"amount_cents": "100"}"#, "must be an integer, not string"),
        (#"{"amount_cents": null}"#, "must be an integer, not null"),
        (#"{}"#, "is required"),
    ])
    func refusesBadAmounts(json: String, message: String) {
        let found = errors(json) { _ = $0.integer("amount_cents", required: true, in: 0...1_000_000_000_000) }
        #expect(found == [FieldError(field: "amount_cents", message: message)])
    }

    @Test func refusesUnknownAndRepeatedFields() {
        #expect(
            errors(#"{"name": "a", "nmae": "b"}"#) { _ = $0.string("name") }
                == [FieldError(field: "nmae", message: "unknown field")])
        #expect(
            errors(#"{"name": "a", "name": "b"}"#) { _ = $0.string("name") }
                == [FieldError(field: "name", message: "given more than once")])
    }

    @Test func refusesNULAndEmptyAndLongStrings() {
        #expect(
            errors(#"{"name": "a\u0000b"}"#) { _ = $0.string("name") }
                == [FieldError(field: "name", message: "must not contain NUL characters")])
        #expect(
            errors(#"{"name": "  "}"#) { _ = $0.string("name") }
                == [FieldError(field: "name", message: "must not be empty")])
        #expect(
            errors("{\"name\": \"\(String(repeating: "é", count: 201))\"}") { _ = $0.string("name", maxLength: 200) }
                == [FieldError(field: "name", message: "must be at most 200 characters")])
    }

    @Test func keepsOddUnicodeAndSQLLookingText() throws {
        for text in ["'; DROP TABLE customers; --", "Zoë 😀 \u{202E}txet\u{202C}", "a\u{0301}", "\u{FEFF}x"] {
            var json = JSONWriter()
            json.beginObject()
            json.field("name", text)
            json.endObject()
            var fields = try FieldReader(body: json.bytes)
            #expect(fields.string("name") == text)
        }
    }

    @Test func refusesBadIdsAndTimestamps() {
        #expect(
            errors(#"{"id": "123"}"#) { _ = $0.id("id", as: Void.self) }
                == [FieldError(field: "id", message: "must be a UUID")])
        #expect(
            errors(#"{"at": "yesterday"}"#) { _ = $0.timestamp("at") }
                == [FieldError(field: "at", message: "must be an RFC 3339 timestamp such as 2026-01-31T10:00:00Z")])
    }

    @Test func boundsMetadata() {
        let many = (0..<21).map { "\"k\($0)\": \"v\"" }.joined(separator: ",")
        #expect(
            errors("{\"metadata\": {\(many)}}") { _ = $0.stringMap("metadata") }
                == [FieldError(field: "metadata", message: "must have at most 20 keys")])
        #expect(
            errors(#"{"metadata": {"k": 1}}"#) { _ = $0.stringMap("metadata") }
                == [FieldError(field: "metadata.k", message: "must be a string, not number")])
    }
}

@Suite struct QueryParametersTests {
    @Test func decodesAndBoundsParameters() throws {
        var query = try QueryParameters("limit=5&email=a%40b.com&starting_after=01a2135a-6f24-7ec5-8c14-5bff7fc75624")
        #expect(query.string("email") == "a@b.com")
        let page = query.page()
        #expect(page.limit == 5)
        #expect(page.startingAfter?.description == "01a2135a-6f24-7ec5-8c14-5bff7fc75624")
        try query.finish()
    }

    @Test(arguments: [
        "limit=0", "limit=101", "limit=abc", "limit=-1", "starting_after=x", "bogus=1", "limit=1&limit=2", "a=%zz",
    ])
    func refusesBadParameters(text: String) {
        #expect(throws: Problem.self) {
            var query = try QueryParameters(text)
            _ = query.page()
            try query.finish()
        }
    }
}

@Suite struct ProblemTests {
    @Test func rendersProblemJSON() throws {
        let response = Problem.validation(field: "amount_cents", "must be >= 0").response(requestID: "r1")
        #expect(response.status == 422)
        #expect(response.header("Content-Type") == "application/problem+json")
        let body = try JSONParser.parse(response.body)
        guard case .object(let members) = body else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["type", "title", "status", "detail", "errors", "request_id"])
        #expect(members.first { $0.key == "status" }?.value == .number("422"))
    }

    @Test func methodNotAllowedCarriesAllow() {
        let response = Problem.methodNotAllowed(allow: ["GET", "POST"]).response(requestID: "")
        #expect(response.status == 405)
        #expect(response.header("Allow") == "GET, POST")
    }

    @Test func bearerTokenParsing() {
        #expect(HTTPRequest(method: "GET", path: "/", authorization: "Bearer abc").bearerToken == "abc")
        #expect(HTTPRequest(method: "GET", path: "/", authorization: "bearer  abc ").bearerToken == "abc")
        #expect(HTTPRequest(method: "GET", path: "/", authorization: "Basic abc").bearerToken == nil)
        #expect(HTTPRequest(method: "GET", path: "/", authorization: "Bearer").bearerToken == nil)
        #expect(
            HTTPRequest(method: "GET", path: "/", contentType: "application/json; charset=utf-8").hasJSONContentType)
        #expect(!HTTPRequest(method: "GET", path: "/", contentType: "text/plain").hasJSONContentType)
    }
}
