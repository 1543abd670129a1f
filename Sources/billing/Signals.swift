import ArgumentParser
import Pool

#if canImport(Glibc)
    import Glibc
#endif

/// Reads the pool master's PID file: the PID, then the scoreboard's path.
struct PIDFile {
    var pid: pid_t
    var scoreboard: String?

    init(path: String) throws {
        guard let file = fopen(path, "r") else { throw ValidationError("cannot read \(path): is the pool running?") }
        defer { fclose(file) }
        var lines: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            lines.append(line.trimmingCharacters(in: "\n"))
        }
        guard let first = lines.first, let pid = pid_t(first), pid > 0 else {
            throw ValidationError("\(path) holds no PID")
        }
        self.pid = pid
        scoreboard = lines.count > 1 && !lines[1].isEmpty ? lines[1] : nil
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var text = self
        while text.last == set { text.removeLast() }
        return text
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reload the pool without downtime (SIGHUP) and report whether the new generation took over.",
        discussion: "Exits 0 when the new generation serves, 1 when it failed to start and the old one kept serving.")

    @Option(help: "The master's PID file.") var pidFile: String = ".data/billing.pid"
    @Option(help: "Seconds to wait for the result.") var timeout: Int = 60

    func run() throws {
        let file = try PIDFile(path: pidFile)
        let board = try file.scoreboard.map { try Scoreboard.attach(path: $0) }
        let before = board?.reloadCounts
        guard kill(file.pid, SIGHUP) == 0 else { throw ValidationError("cannot signal \(file.pid)") }
        guard let board, let before else {
            print("reload signaled")
            return
        }
        for _ in 0..<(timeout * 10) {
            let now = board.reloadCounts
            if now.ok > before.ok {
                print("reload ok: generation \(now.generation) serves")
                return
            }
            if now.failed > before.failed {
                print("reload failed: generation \(now.generation) keeps serving (see the pool's log)")
                throw ExitCode(1)
            }
            usleep(100_000)
        }
        print("reload: no result within \(timeout) s")
        throw ExitCode(1)
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the pool gracefully (SIGTERM): workers finish their requests, then the master exits.")

    @Option(help: "The master's PID file.") var pidFile: String = ".data/billing.pid"
    @Option(help: "Seconds to wait for the master to exit.") var timeout: Int = 60

    func run() throws {
        let file = try PIDFile(path: pidFile)
        guard kill(file.pid, SIGTERM) == 0 else { throw ValidationError("cannot signal \(file.pid)") }
        for _ in 0..<(timeout * 10) {
            if kill(file.pid, 0) != 0 {
                print("stopped")
                return
            }
            usleep(100_000)
        }
        print("the pool did not stop within \(timeout) s")
        throw ExitCode(1)
    }
}
