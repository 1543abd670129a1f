/// Maps a method and path to a handler. Patterns are literal segments and `{name}`
/// parameters; a path that exists with another method is a 405 with `Allow`.
public struct Router<Handler> {
    fileprivate enum Segment: Equatable, Sendable {
        case literal(String)
        case parameter
    }

    fileprivate struct Route {
        var method: String
        var segments: [Segment]
        var handler: Handler
    }

    public enum Match {
        case found(Handler, parameters: [String])
        case notFound
        case methodNotAllowed(allow: [String])
    }

    /// Routes indexed by their number of segments: a path is compared only with routes
    /// that could match it.
    private var routesByLength: [[Route]] = []

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: Handler) {
        let segments = Self.split(pattern).map { part -> Segment in
            part.hasPrefix("{") && part.hasSuffix("}") ? .parameter : .literal(String(part))
        }
        while routesByLength.count <= segments.count { routesByLength.append([]) }
        routesByLength[segments.count].append(Route(method: method, segments: segments, handler: handler))
    }

    public func match(method: String, path: String) -> Match {
        let parts = Self.split(path)
        var allowed: [String] = []
        guard parts.count < routesByLength.count else { return .notFound }
        for route in routesByLength[parts.count] {
            var parameters: [String] = []
            var matches = true
            for (segment, part) in zip(route.segments, parts) {
                switch segment {
                case .literal(let literal) where literal != part: matches = false
                case .literal: break
                case .parameter: parameters.append(String(part))
                }
                if !matches { break }
            }
            guard matches else { continue }
            if route.method == method { return .found(route.handler, parameters: parameters) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allow: allowed)
    }

    /// Path segments; a trailing slash is ignored, empty segments are kept so that `//x` does not match `/x`.
    private static func split(_ path: String) -> [Substring] {
        var trimmed = Substring(path)
        if trimmed.hasPrefix("/") { trimmed.removeFirst() }
        if trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed.split(separator: "/", omittingEmptySubsequences: false)
    }
}

extension Router: Sendable where Handler: Sendable {}
extension Router.Route: Sendable where Handler: Sendable {}
