import Postgres

/// Readiness of the database for this build of the service.
public enum Health {
    /// The newest migration this binary's SQL expects; `/health/ready` compares it with
    /// `schema_migrations` (a test keeps it equal to the newest file in `sql/`).
    public static let latestMigration = "0026_webhook_delivery_ids_carry_their_key"

    public enum Migrations: String, Sendable {
        case current, pending, ahead
    }

    /// The database answers a statement.
    public static func ping(on db: Connection) throws {
        try db.query("SELECT 1")
    }

    public static func check(on db: Connection) throws -> Migrations {
        let version = try db.query("SELECT max(version) FROM schema_migrations").first?.string(0) ?? ""
        if version == latestMigration { return .current }
        return version < latestMigration ? .pending : .ahead
    }
}
