/// An HTTP request as the application sees it, built from the CGI parameters nginx sends
/// over FastCGI (only the ones the API reads are kept).
public struct HTTPRequest: Sendable {
    public var method: String
    /// The decoded, normalised path (`$document_uri`), without the query string.
    public var path: String
    /// The raw query string, without `?`.
    public var query: String
    public var contentType: String?
    public var authorization: String?
    public var idempotencyKey: String?
    /// `Idempotency-Key` was sent more than once or was not UTF-8: refused, never guessed.
    public var idempotencyKeyUnreadable: Bool
    /// nginx's `$request_id`, echoed in problem bodies and logs.
    public var requestID: String
    public var remoteAddress: String
    public var body: [UInt8]
    /// The body exceeded the application's limit and was not read.
    public var bodyTooLarge: Bool

    public init(
        method: String, path: String, query: String = "", contentType: String? = nil, authorization: String? = nil,
        idempotencyKey: String? = nil, idempotencyKeyUnreadable: Bool = false, requestID: String = "",
        remoteAddress: String = "127.0.0.1", body: [UInt8] = [], bodyTooLarge: Bool = false
    ) {
        self.idempotencyKeyUnreadable = idempotencyKeyUnreadable
        self.method = method
        self.path = path
        self.query = query
        self.contentType = contentType
        self.authorization = authorization
        self.idempotencyKey = idempotencyKey
        self.requestID = requestID
        self.remoteAddress = remoteAddress
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }

    /// The CGI parameters a worker copies out of each request: the ones `init(cgiParams:)`
    /// reads, and `CONTENT_LENGTH`, which the FastCGI server reads to take the body (remove
    /// it and every body arrives empty, with no error).
    public static let cgiParamNames = [
        "REQUEST_METHOD", "DOCUMENT_URI", "SCRIPT_NAME", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
        "HTTP_AUTHORIZATION", "HTTP_IDEMPOTENCY_KEY", "REQUEST_ID", "REMOTE_ADDR",
    ]

    /// Builds the request from CGI/FastCGI parameters (`REQUEST_METHOD`, `DOCUMENT_URI`, …).
    /// `unreadable` names the parameters that were repeated or not UTF-8.
    public init(cgiParams params: [String: String], body: [UInt8], bodyTooLarge: Bool, unreadable: Set<String> = []) {
        self.init(
            method: params["REQUEST_METHOD"] ?? "GET",
            path: params["DOCUMENT_URI"] ?? params["SCRIPT_NAME"] ?? "/",
            query: params["QUERY_STRING"] ?? "",
            contentType: params["CONTENT_TYPE"].flatMap { $0.isEmpty ? nil : $0 },
            authorization: params["HTTP_AUTHORIZATION"],
            idempotencyKey: params["HTTP_IDEMPOTENCY_KEY"],
            idempotencyKeyUnreadable: unreadable.contains("HTTP_IDEMPOTENCY_KEY"),
            requestID: params["REQUEST_ID"] ?? "",
            remoteAddress: params["REMOTE_ADDR"] ?? "",
            body: body,
            bodyTooLarge: bodyTooLarge)
    }

    /// Whether the body is declared as JSON (`application/json`, any parameters).
    public var hasJSONContentType: Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return mediaType.trimmingSpaces().lowercased() == "application/json"
    }

    /// Whether the client is this host (`127.0.0.1` or `::1`, the addresses nginx allows
    /// for operations paths): checked again here, whatever nginx's configuration says.
    public var isFromLoopback: Bool { remoteAddress == "127.0.0.1" || remoteAddress == "::1" }

    /// The API key from `Authorization: Bearer <key>`, if well formed.
    public var bearerToken: String? {
        guard let authorization else { return nil }
        // Bytes, not Characters: this runs on every request.
        let scheme = Array("bearer ".utf8)
        var bytes = Substring(authorization).utf8
        guard bytes.count > scheme.count,
            zip(bytes, scheme).allSatisfy({ $0 == $1 || $0 == $1 - 32 && $1 >= UInt8(ascii: "a") })
        else { return nil }
        bytes.removeFirst(scheme.count)
        let token = Substring(bytes).trimmingSpaces()
        return token.isEmpty ? nil : String(token)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> SubSequence {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return slice
    }
}
