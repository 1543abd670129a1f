/// Maps a method and path to a handler. Patterns are literal segments and `{name}`
/// parameters; a path that exists with another method is a 405 with `Allow`.
///
/// The matching itself lives in the non-generic `RouteTable`, so that it is compiled
/// once, specialised, in this module; the router only keeps the handlers beside it.
public struct Router<Handler> {
    public enum Match {
        case found(Handler, parameters: [String])
        case notFound
        case methodNotAllowed(allow: [String])
    }

    private var table = RouteTable()
    private var handlers: [Handler] = []

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: Handler) {
        table.add(method, pattern, index: handlers.count)
        handlers.append(handler)
    }

    public func match(method: String, path: String) -> Match {
        switch table.match(method: method, path: path) {
        case .found(let index, let parameters): return .found(handlers[index], parameters: parameters)
        case .notFound: return .notFound
        case .methodNotAllowed(let allow): return .methodNotAllowed(allow: allow)
        }
    }
}

extension Router: Sendable where Handler: Sendable {}

/// The patterns of a router, indexed by their number of segments so that a path is
/// compared only with the routes that could match it.
struct RouteTable: Sendable {
    enum Segment: Equatable, Sendable {
        case literal([UInt8])
        case parameter
    }

    struct Route: Sendable {
        var method: String
        var segments: [Segment]
        var index: Int
    }

    enum Match {
        case found(Int, parameters: [String])
        case notFound
        case methodNotAllowed(allow: [String])
    }

    private var routesByLength: [[Route]] = []

    mutating func add(_ method: String, _ pattern: String, index: Int) {
        let segments = Self.split(pattern).map { part -> Segment in
            part.first == UInt8(ascii: "{") && part.last == UInt8(ascii: "}") ? .parameter : .literal(Array(part))
        }
        while routesByLength.count <= segments.count { routesByLength.append([]) }
        routesByLength[segments.count].append(Route(method: method, segments: segments, index: index))
    }

    func match(method: String, path: String) -> Match {
        let parts = Self.split(path)
        guard parts.count < routesByLength.count else { return .notFound }
        var allowed: [String] = []
        candidates: for route in routesByLength[parts.count] {
            var parameters: [String] = []
            for position in 0..<parts.count {
                switch route.segments[position] {
                case .literal(let literal):
                    if !literal.elementsEqual(parts[position]) { continue candidates }
                case .parameter:
                    parameters.append(String(Substring(parts[position])))
                }
            }
            if route.method == method { return .found(route.index, parameters: parameters) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allow: allowed)
    }

    /// Path segments as bytes (compared exactly, never as Unicode characters); a trailing
    /// slash is ignored, empty segments are kept so that `//x` does not match `/x`.
    static func split(_ path: String) -> [Substring.UTF8View] {
        let slash = UInt8(ascii: "/")
        var trimmed = Substring(path).utf8
        if trimmed.first == slash { trimmed.removeFirst() }
        if trimmed.last == slash { trimmed.removeLast() }
        return trimmed.split(separator: slash, omittingEmptySubsequences: false)
    }
}
