/// A failure talking to PostgreSQL. `description` stays generic so that no SQL or data
/// reaches a response; `detail` carries the server's message for the log only.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The connection could not be made or was lost; the request may be retried.
        case connection
        /// The server refused a statement; `sqlState` says why.
        case query
        /// Not a failure: the statement was recorded, not sent (`Connection.firstStatement(of:)`).
        case deferred
        /// A row did not hold what the schema promises (`RowReader`): a bug, never the client's.
        case decoding
    }

    public var kind: Kind
    /// The five-character SQLSTATE (`23505` unique violation, …), empty for connection errors.
    public var sqlState: String
    /// The violated constraint's name, when the server names one.
    public var constraint: String?
    /// The server's message; for logs, never for clients.
    public var detail: String

    public init(kind: Kind, sqlState: String = "", constraint: String? = nil, detail: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.constraint = constraint
        self.detail = detail
    }

    public var description: String {
        kind == .connection ? "database unavailable" : "database error \(sqlState)"
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    public var isCheckViolation: Bool { sqlState == "23514" }
    /// A rule of the database refused a change in the row's state (the triggers that keep
    /// settled invoices and events unchanged raise it).
    public var isObjectNotInPrerequisiteState: Bool { sqlState == "55000" }
    /// Serialization failures and deadlocks: the transaction can simply be run again.
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// An operator (`pg_cancel_backend`) or a timeout canceled the statement; its
    /// transaction is rolled back and the request can be sent again.
    public var isCanceled: Bool { sqlState == "57014" }
    /// The server is shutting down or the connection broke mid-statement.
    public var isConnectionFailure: Bool {
        kind == .connection || sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02"
            || sqlState == "57P03"
    }
}

/// What a log says of any error: a database error's SQLSTATE and the server's message
/// (for the log only, never for a client), else the error as Swift describes it.
public func logDetail(_ error: any Error) -> String {
    guard let database = error as? PostgresError else { return String(reflecting: error) }
    return "\(database.sqlState.isEmpty ? "connection" : database.sqlState): \(database.detail)"
}
