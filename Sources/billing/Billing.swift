import ArgumentParser
import Logging

#if canImport(Glibc)
    import Glibc
#endif

@main
struct BillingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "billing",
        abstract: "A subscription-billing service: FastCGI responders behind nginx, state in PostgreSQL.",
        subcommands: [
            Serve.self, WorkerCommand.self, Reload.self, Stop.self, Migrate.self, RunDue.self,
            WebhookSenderCommand.self,
            APIKeyCommand.self,
        ])

    static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            if let level = getenv("LOG_LEVEL").flatMap({ Logger.Level(rawValue: String(cString: $0)) }) {
                handler.logLevel = level
            }
            return handler
        }
    }
}

/// Options every command that talks to PostgreSQL shares.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "libpq connection string or URL (default: $DATABASE_URL, else postgresql:///billing).")
    var databaseURL: String?

    var conninfo: String {
        databaseURL ?? getenv("DATABASE_URL").map { String(cString: $0) } ?? "postgresql:///billing"
    }
}

/// The environment as a dictionary (for `BillingConfig.fromEnvironment`).
func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let pair = String(cString: pointer)
        if let equals = pair.firstIndex(of: "=") {
            result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        entry += 1
    }
    return result
}

/// The absolute path of this executable, so that the pool starts workers from the binary on disk.
func executablePath() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return CommandLine.arguments[0] }
    var path = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
    return path
}
