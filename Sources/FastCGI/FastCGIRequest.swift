/// One request as the web server handed it over: CGI parameters (copied out of libfcgi at
/// once, because libfcgi frees them on the next accept) and the complete body.
public struct FastCGIRequest: Sendable {
    public var params: [String: String]
    public var body: [UInt8]
    /// True when the body was longer than the server's limit and was not read in full.
    public var bodyTooLarge: Bool

    public init(params: [String: String], body: [UInt8], bodyTooLarge: Bool = false) {
        self.params = params
        self.body = body
        self.bodyTooLarge = bodyTooLarge
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
        var text = "Status: \(status)\r\n"
        for (name, value) in headers {
            text += name
            text += ": "
            text += value
            text += "\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }
}

/// Handles requests on one accept thread. One instance per thread, never shared, so it
/// may own a database connection.
public protocol FastCGIHandler: AnyObject {
    func handle(_ request: FastCGIRequest) -> FastCGIResponse
}
