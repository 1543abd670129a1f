import CShim
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The pool master: owns the listening socket for its whole life, starts worker
/// processes that inherit it as fd 0, replaces workers that die (with backoff against
/// crash loops), and on SIGTERM/SIGINT asks them to drain and exits 0. It never serves.
public final class Master {
    public struct Options: Sendable {
        /// Unix socket path, or `host:port` for TCP.
        public var listen: String
        public var workers: Int
        /// The worker command: executable path and arguments.
        public var workerCommand: [String]
        public var gracefulTimeoutSeconds: Int
        public var pidFile: String?
        /// The billing-run command, started every `billingRunInterval` seconds (0: never).
        public var billingRunCommand: [String]
        public var billingRunInterval: Int

        public init(
            listen: String, workers: Int, workerCommand: [String], gracefulTimeoutSeconds: Int, pidFile: String?,
            billingRunCommand: [String] = [], billingRunInterval: Int = 0
        ) {
            self.listen = listen
            self.workers = workers
            self.workerCommand = workerCommand
            self.gracefulTimeoutSeconds = gracefulTimeoutSeconds
            self.pidFile = pidFile
            self.billingRunCommand = billingRunCommand
            self.billingRunInterval = billingRunInterval
        }
    }

    private struct Worker {
        var pid: pid_t
        var generation: Int
        var startedAt: Int64
    }

    private let options: Options
    private var logger: Logger
    private var listenFD: Int32 = -1
    private var signalRead: Int32 = -1
    private var workers: [pid_t: Worker] = [:]
    private var generation = 1
    private var consecutiveCrashes = 0
    private var stopping = false
    private var billingRunPID: pid_t?
    private var nextBillingRun: Int64 = 0

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Binds the socket, starts the workers and supervises them until stopped.
    public func run() throws -> Int32 {
        listenFD = try openListener(options.listen)
        var fds: [Int32] = [-1, -1]
        guard CShim_pipe(&fds) == 0 else { throw PoolError("pipe failed") }
        signalRead = fds[0]
        let signals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT]
        _ = CShim_signalsToPipe(fds[1], signals, Int32(signals.count))
        if let pidFile = options.pidFile { writePIDFile(pidFile) }
        defer { if let pidFile = options.pidFile { unlink(pidFile) } }

        logger.info("pool starting", metadata: ["listen": "\(options.listen)", "workers": "\(options.workers)"])
        for _ in 0..<options.workers { spawn() }
        while !stopping {
            _ = CShim_waitReadable(signalRead, -1, 1000)
            for signal in drainSignals() {
                switch signal {
                case SIGTERM, SIGINT, SIGQUIT: stopping = true
                case SIGHUP: reload()
                default: break
                }
            }
            reap()
            if !stopping {
                replaceMissingWorkers()
                startBillingRunIfDue()
            }
        }
        shutdown()
        return 0
    }

    private func openListener(_ listen: String) throws -> Int32 {
        let fd: Int32
        if listen.hasPrefix("/") || listen.hasPrefix(".") {
            fd = CShim_listenUnix(listen, 1024)
        } else {
            let parts = listen.split(separator: ":")
            guard parts.count == 2, let port = Int32(parts[1]) else { throw PoolError("listen must be a path or host:port") }
            fd = CShim_listenTCP(String(parts[0]), port, 1024)
        }
        guard fd >= 0 else { throw PoolError("cannot listen on \(listen): \(String(cString: strerror(-fd)))") }
        return fd
    }

    private func drainSignals() -> [Int32] {
        var signals: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = read(signalRead, &buffer, buffer.count)
            guard count > 0 else { break }
            signals += buffer[0..<count].map { Int32($0) }
        }
        return signals
    }

    private func spawn() {
        guard let pid = start(options.workerCommand, listenFD: listenFD) else { return }
        workers[pid] = Worker(pid: pid, generation: generation, startedAt: Int64(CShim_wallSeconds()))
        logger.info("worker started", metadata: ["pid": "\(pid)", "generation": "\(generation)"])
    }

    /// Starts `billing run-due` every interval, one at a time; runs on several hosts are safe.
    private func startBillingRunIfDue() {
        guard options.billingRunInterval > 0, billingRunPID == nil, !options.billingRunCommand.isEmpty else { return }
        let now = Int64(CShim_wallSeconds())
        guard now >= nextBillingRun else { return }
        nextBillingRun = now + Int64(options.billingRunInterval)
        billingRunPID = start(options.billingRunCommand, listenFD: -1)
    }

    private func start(_ command: [String], listenFD: Int32) -> pid_t? {
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var environment: [UnsafeMutablePointer<CChar>?] = []
        var entry = environ
        while let pointer = entry.pointee {
            environment.append(pointer)
            entry += 1
        }
        let generationVariable = strdup("BILLING_GENERATION=\(generation)")
        defer { free(generationVariable) }
        environment.append(generationVariable)
        environment.append(nil)
        let pid = CShim_spawn(command[0], argv, environment, listenFD)
        guard pid > 0 else {
            logger.error("cannot start \(command.dropFirst().first ?? "")", metadata: ["error": "\(String(cString: strerror(-pid)))"])
            return nil
        }
        return pid
    }

    private func reap() {
        var exitCode: Int32 = 0
        var termSignal: Int32 = 0
        while true {
            let pid = CShim_reap(&exitCode, &termSignal)
            guard pid > 0 else { return }
            if pid == billingRunPID {
                billingRunPID = nil
                if exitCode != 0 {
                    logger.error("billing run failed", metadata: ["code": "\(exitCode)", "signal": "\(termSignal)"])
                }
                continue
            }
            guard let worker = workers.removeValue(forKey: pid) else { continue }
            let uptime = Int64(CShim_wallSeconds()) - worker.startedAt
            if stopping || worker.generation != generation {
                logger.info("worker exited", metadata: ["pid": "\(pid)", "code": "\(exitCode)"])
                continue
            }
            consecutiveCrashes = uptime < 5 ? consecutiveCrashes + 1 : 0
            logger.warning(
                "worker died; replacing it",
                metadata: ["pid": "\(pid)", "code": "\(exitCode)", "signal": "\(termSignal)", "uptime_s": "\(uptime)"])
        }
    }

    private func replaceMissingWorkers() {
        let current = workers.values.filter { $0.generation == generation }.count
        guard current < options.workers else { return }
        if consecutiveCrashes > 0 {
            // Exponential backoff against a crash loop: 0.1 s, 0.2 s, … up to 10 s.
            let delay = min(10_000_000, 100_000 << min(consecutiveCrashes - 1, 7))
            usleep(UInt32(delay))
        }
        for _ in current..<options.workers { spawn() }
    }

    /// Starts a new generation, then asks the old one to drain and exit.
    private func reload() {
        let old = workers.values.filter { $0.generation == generation }.map(\.pid)
        generation += 1
        logger.info("reloading", metadata: ["generation": "\(generation)"])
        for _ in 0..<options.workers { spawn() }
        for pid in old { kill(pid, SIGTERM) }
    }

    private func shutdown() {
        logger.info("pool stopping: draining workers")
        for pid in workers.keys { kill(pid, SIGTERM) }
        if let billingRunPID { kill(billingRunPID, SIGTERM) }
        let deadline = CShim_monotonicNanos() + Int64(options.gracefulTimeoutSeconds) * 1_000_000_000
        while !workers.isEmpty && CShim_monotonicNanos() < deadline {
            reap()
            if !workers.isEmpty { usleep(20_000) }
        }
        for pid in workers.keys {
            logger.warning("worker did not drain in time; killing it", metadata: ["pid": "\(pid)"])
            kill(pid, SIGKILL)
        }
        while !workers.isEmpty {
            reap()
            usleep(10_000)
        }
        if options.listen.hasPrefix("/") || options.listen.hasPrefix(".") { unlink(options.listen) }
        close(listenFD)
        logger.info("pool stopped")
    }

    private func writePIDFile(_ path: String) {
        let text = "\(CShim_getpid())\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}

public struct PoolError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
