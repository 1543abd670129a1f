import Billing
import Documents
import HTTP
import Logging
import Postgres

/// The one place where errors become problem+json. Client mistakes map to 4xx; only a
/// bug maps to 500, and its details go to the log, never into the response.
enum ErrorMapping {
    static func problem(for error: any Error, context: APIContext) -> Problem {
        let logger = context.logger
        if error is PostgresError { context.onDatabaseError?() }
        switch error {
        case let problem as Problem:
            return problem
        case let billing as BillingError:
            switch billing {
            case .notFound(let detail): return .notFound(detail)
            case .conflict(let detail, let slug): return .conflict(detail, slug: slug)
            case .invalid(let field, let message): return .validation(field: field, message)
            }
        case let renderer as PDFRendererProcess.Unavailable:
            // The service's fault, not the caller's: the PDF renderer cannot start or keeps failing.
            logger.error("PDF rendering failed", metadata: ["error": "\(renderer)"])
            return .serviceUnavailable("the PDF cannot be rendered now; retry later")
        case let database as PostgresError where database.isConnectionFailure:
            logger.warning("database unavailable", metadata: ["error": "\(database.detail)"])
            return .serviceUnavailable("the database is unavailable")
        case let database as PostgresError where database.isCanceled:
            logger.warning("statement canceled", metadata: ["error": "\(database.detail)"])
            return .serviceUnavailable("the database canceled the request; nothing of it was stored: retry it")
        case let database as PostgresError where database.isObjectNotInPrerequisiteState:
            // A trigger guarding settled invoices refused a change.
            return .conflict("the object is in a state that does not allow this change", slug: "immutable")
        case let database as PostgresError where database.isRetryable:
            return .conflict("the request conflicted with a concurrent one; retry it", slug: "concurrent-update")
        case let database as PostgresError where database.isCheckViolation || database.sqlState.hasPrefix("22"):
            // A value that passed validation but not a database constraint: still the client's input.
            logger.warning(
                "constraint refused input",
                metadata: ["sqlstate": "\(database.sqlState)", "constraint": "\(database.constraint ?? "")"])
            return .validation(
                field: ConstraintField.field(of: database.constraint) ?? "body", "a value is out of the allowed range")
        default:
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            if let database = error as? PostgresError {
                logger.error("database error", metadata: ["detail": "\(database.detail)"])
            }
            return .internalError
        }
    }
}
