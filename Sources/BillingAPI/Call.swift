import Billing
import Common
import HTTP
import Postgres

/// One request being handled: the request, its path parameters and the thread's context.
public struct Call {
    public let request: HTTPRequest
    public let parameters: [String]
    public let context: APIContext
    public let now: Timestamp
    /// The authenticated API key (nil on unauthenticated routes).
    public var apiKeyID: UUID128?

    public func database() throws -> Connection { try context.database() }

    /// The path parameter at `index` as an id; a malformed id is a 404 for that resource.
    public func id<Entity>(_ index: Int, _ resource: String, as: Entity.Type = Entity.self) throws -> ID<Entity> {
        guard index < parameters.count, let id = ID<Entity>(parsing: parameters[index]) else {
            throw BillingError.notFound("no such \(resource)")
        }
        return id
    }

    /// The query string's parameters; call `finish()` after reading them.
    public func query() throws -> QueryParameters { try QueryParameters(request.query) }
}
