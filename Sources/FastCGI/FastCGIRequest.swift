/// One request as the web server handed it over: CGI parameters (copied out of libfcgi at
/// once, because libfcgi frees them on the next accept) and the complete body.
public struct FastCGIRequest: Sendable {
    public var params: [String: String]
    public var body: [UInt8]
    /// True when the body was longer than the server's limit and was not read in full.
    public var bodyTooLarge: Bool
    /// Parameters sent more than once or not valid UTF-8: absent from `params`, named here.
    public var unreadableParams: Set<String>

    public init(
        params: [String: String], body: [UInt8], bodyTooLarge: Bool = false, unreadableParams: Set<String> = []
    ) {
        self.params = params
        self.body = body
        self.bodyTooLarge = bodyTooLarge
        self.unreadableParams = unreadableParams
    }
}

/// A response: a CGI header block (`Status: 200 OK`, then header lines) and a body.
public struct FastCGIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The bytes written to the FastCGI stdout stream.
    public var headerBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        func append(_ text: String) { bytes.append(contentsOf: text.utf8) }
        append("Status: ")
        append(String(status))
        append(" ")
        append(Self.reasonPhrase(status))
        append("\r\nContent-Length: ")
        append(String(body.count))
        append("\r\n")
        for (name, value) in headers {
            append(name)
            append(": ")
            append(value)
            append("\r\n")
        }
        append("\r\n")
        return bytes
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

/// Handles requests on one server thread. One instance per thread, never shared, so it
/// may own a database connection.
public protocol FastCGIHandler: AnyObject {
    func handle(_ request: FastCGIRequest) -> FastCGIResponse

    /// Handles requests that arrived together on different connections, calling `respond`
    /// exactly once for each (by its index), in any order and as soon as it is ready.
    func handle(batch: [FastCGIRequest], respond: (Int, FastCGIResponse) -> Void)
}

extension FastCGIHandler {
    public func handle(batch: [FastCGIRequest], respond: (Int, FastCGIResponse) -> Void) {
        for (index, request) in batch.enumerated() { respond(index, handle(request)) }
    }
}
