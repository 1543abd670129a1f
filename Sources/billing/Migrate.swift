import ArgumentParser
import Postgres

#if canImport(Glibc)
    import Glibc
#endif

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the SQL migrations in order, each once, under an advisory lock.",
        discussion: "Safe to run concurrently. A migration that changed after it was applied is an error.")

    @Option(help: "Directory of numbered .sql files.")
    var dir: String = "sql"

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let migrations = try readMigrations(dir)
        let db = try Connection(conninfo: database.conninfo)
        do {
            let applied = try Migrator().migrate(migrations, on: db)
            print(applied.isEmpty ? "migrations: up to date" : "migrations: applied \(applied.joined(separator: ", "))")
        } catch let failure as Migrator.Failure {
            printError("migrate: \(failure)")
            throw ExitCode(2)
        } catch let error as PostgresError {
            printError("migrate: \(error.description): \(error.detail)")
            throw ExitCode(1)
        }
    }

    private func readMigrations(_ dir: String) throws -> [Migrator.Migration] {
        guard let directory = opendir(dir) else { throw ValidationError("cannot read \(dir)") }
        defer { closedir(directory) }
        var migrations: [Migrator.Migration] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name.hasSuffix(".sql") else { continue }
            migrations.append(.init(version: String(name.dropLast(4)), sql: try readFile("\(dir)/\(name)")))
        }
        return migrations
    }

    private func readFile(_ path: String) throws -> String {
        guard let file = fopen(path, "rb") else { throw ValidationError("cannot read \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
