import ArgumentParser
import Billing
import Common
import Postgres

struct APIKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Create, list and revoke API keys. Secrets are printed once and stored only as hashes.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print its secret once.")
        @Option(help: "A name to recognise the key by.") var name: String
        @Flag(help: "Print only the secret.") var quiet = false
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            guard (1...200).contains(name.count) else { throw ValidationError("--name must be 1…200 characters") }
            let db = try Connection(conninfo: database.conninfo)
            let (key, secret) = try APIKeyStore.create(name: name, now: .now(), on: db)
            if quiet {
                print(secret)
            } else {
                print("id:      \(key.id)\nname:    \(key.name)\nAPI key: \(secret)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            let db = try Connection(conninfo: database.conninfo)
            for key in try APIKeyStore.list(on: db) {
                print("\(key.id)  \(key.prefix)…  \(key.revokedAt == nil ? "active " : "revoked")  \(key.name)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by id or prefix. Workers stop accepting it within a few seconds.")
        @Argument(help: "The key's id or its prefix (bk_…).") var key: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            let db = try Connection(conninfo: database.conninfo)
            let count = try APIKeyStore.revoke(key, now: .now(), on: db)
            guard count > 0 else {
                printError("api-key: no active key matches \(key)")
                throw ExitCode(1)
            }
            print("revoked \(count) key(s)")
        }
    }
}
