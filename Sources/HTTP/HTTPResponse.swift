import Common

/// A complete response: status, headers and body bytes.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Which route answered (an index into the route table, 0 when none matched), for metrics.
    public var route = 0

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static let jsonContentType = "application/json"
    public static let problemContentType = "application/problem+json"

    /// A JSON response with the value written by hand.
    public static func json(_ status: Int, _ value: some JSONWritable) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", jsonContentType)], body: value.jsonBytes)
    }

    /// A JSON response from bytes that are already JSON (a replayed idempotent response).
    public static func json(_ status: Int, bytes: [UInt8]) -> HTTPResponse {
        let type = status >= 400 ? problemContentType : jsonContentType
        return HTTPResponse(status: status, headers: [("Content-Type", type)], body: bytes)
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}
