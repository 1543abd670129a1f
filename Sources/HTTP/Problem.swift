import Common

/// One invalid input: which field (or query parameter) and what is wrong with it.
public struct FieldError: Equatable, Sendable, JSONWritable {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("field", field)
        json.field("message", message)
        json.endObject()
    }
}

/// An error answered as `application/problem+json` (RFC 9457). Every failure a client can
/// cause becomes one of these, with a status it can act on; never a 5xx.
public struct Problem: Error, Equatable, Sendable {
    public var status: Int
    /// The last path segment of `type`, e.g. `validation-error`.
    public var slug: String
    public var title: String
    public var detail: String
    public var errors: [FieldError]
    /// Extra headers, e.g. `Allow` on a 405.
    public var headers: [(String, String)]

    public init(
        status: Int, slug: String, title: String, detail: String, errors: [FieldError] = [],
        headers: [(String, String)] = []
    ) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    public static func == (lhs: Problem, rhs: Problem) -> Bool {
        lhs.status == rhs.status && lhs.slug == rhs.slug && lhs.detail == rhs.detail && lhs.errors == rhs.errors
    }

    public static let typeBase = "https://billing.invalid/problems/"

    public static func malformedJSON(_ detail: String) -> Problem {
        Problem(status: 400, slug: "malformed-json", title: "Malformed JSON", detail: detail)
    }

    public static func badRequest(_ detail: String) -> Problem {
        Problem(status: 400, slug: "bad-request", title: "Bad request", detail: detail)
    }

    public static func validation(_ errors: [FieldError]) -> Problem {
        let detail =
            errors.count == 1 ? "\(errors[0].field): \(errors[0].message)" : "\(errors.count) fields are invalid"
        return Problem(
            status: 422, slug: "validation-error", title: "Validation failed", detail: detail, errors: errors)
    }

    public static func validation(field: String, _ message: String) -> Problem {
        validation([FieldError(field: field, message: message)])
    }

    public static let unauthorized = Problem(
        status: 401, slug: "unauthorized", title: "Unauthorized",
        detail: "a valid API key is required: Authorization: Bearer <key>",
        headers: [("WWW-Authenticate", "Bearer")])

    public static func notFound(_ detail: String) -> Problem {
        Problem(status: 404, slug: "not-found", title: "Not found", detail: detail)
    }

    public static func methodNotAllowed(allow: [String]) -> Problem {
        Problem(
            status: 405, slug: "method-not-allowed", title: "Method not allowed",
            detail: "allowed: \(allow.joined(separator: ", "))", headers: [("Allow", allow.joined(separator: ", "))])
    }

    public static let loopbackOnly = Problem(
        status: 403, slug: "forbidden", title: "Forbidden", detail: "this path is served to loopback clients only")

    public static func conflict(_ detail: String, slug: String = "conflict") -> Problem {
        Problem(status: 409, slug: slug, title: "Conflict", detail: detail)
    }

    public static let payloadTooLarge = Problem(
        status: 413, slug: "payload-too-large", title: "Payload too large",
        detail: "the body is larger than this path takes (64 KiB; 1 MiB for /usage-events)")

    public static let unsupportedMediaType = Problem(
        status: 415, slug: "unsupported-media-type", title: "Unsupported media type",
        detail: "send the body as Content-Type: application/json")

    public static func serviceUnavailable(_ detail: String) -> Problem {
        Problem(
            status: 503, slug: "service-unavailable", title: "Service unavailable", detail: detail,
            headers: [("Retry-After", "1")])
    }

    public static let internalError = Problem(
        status: 500, slug: "internal-error", title: "Internal error", detail: "an unexpected error occurred")

    /// The problem+json response for this error.
    public func response(requestID: String) -> HTTPResponse {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.field("type", Self.typeBase + slug)
        json.field("title", title)
        json.field("status", status)
        json.field("detail", detail)
        if !errors.isEmpty {
            json.key("errors")
            json.beginArray()
            for error in errors { json.value(error) }
            json.endArray()
        }
        json.field("request_id", requestID)
        json.endObject()
        return HTTPResponse(
            status: status, headers: [("Content-Type", HTTPResponse.problemContentType)] + headers, body: json.bytes)
    }
}
