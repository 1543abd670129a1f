import Common

/// Applies numbered SQL files in order, each in its own transaction, under an advisory
/// lock so that concurrent migrators wait for each other instead of racing. Each applied
/// file is recorded with its SHA-256; a recorded file whose content changed is refused.
public struct Migrator {
    public struct Migration: Sendable {
        /// The file name without `.sql`, e.g. `0001_schema`.
        public var version: String
        public var sql: String

        public init(version: String, sql: String) {
            self.version = version
            self.sql = sql
        }

        var checksum: String { SHA256.hex(Array(sql.utf8)) }
    }

    public enum Failure: Error, CustomStringConvertible {
        case changedAfterApply(String)
        public var description: String {
            switch self {
            case .changedAfterApply(let version):
                return "migration \(version) was changed after it was applied; add a new migration instead"
            }
        }
    }

    /// An arbitrary constant identifying the migration lock.
    static let lockKey: Int64 = 0x6269_6c6c_696e_67

    public init() {}

    /// Applies the pending migrations and returns the versions it applied.
    public func migrate(_ migrations: [Migration], on db: Connection) throws -> [String] {
        try db.query("SELECT pg_advisory_lock(\(Self.lockKey)::bigint)")
        defer { _ = try? db.query("SELECT pg_advisory_unlock(\(Self.lockKey)::bigint)") }
        try db.execute(
            unsafeSQL: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)

        var applied: [String: String] = [:]
        for row in try db.query("SELECT version, checksum FROM schema_migrations").rows {
            applied[row.string(0) ?? ""] = row.string(1) ?? ""
        }
        var done: [String] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            if let checksum = applied[migration.version] {
                guard checksum == migration.checksum else { throw Failure.changedAfterApply(migration.version) }
                continue
            }
            try db.transaction {
                try db.execute(unsafeSQL: migration.sql)
                try db.query(
                    "INSERT INTO schema_migrations (version, checksum) VALUES (\(migration.version), \(migration.checksum))"
                )
            }
            done.append(migration.version)
        }
        return done
    }
}
