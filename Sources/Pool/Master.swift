import CShim
import Common
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The pool master: owns the listening socket for its whole life and never serves.
///
/// - Workers are this binary's `worker` command, started with the socket as fd 0 and a
///   scoreboard slot of their own; a worker counts as ready once it marks its slot.
/// - SIGHUP starts a new generation from the binary on disk and retires the old one only
///   when every new worker is ready (gunicorn's order, not php-fpm's): no request fails.
///   A generation that crashes or is not ready in time is abandoned; the old one serves on.
/// - SIGTERM/SIGINT: workers stop accepting, drain, and the master exits 0.
/// - A dead worker is replaced at once, with exponential backoff while they keep dying;
///   a request past `requestTimeout` gets its worker killed and replaced. Escalation is
///   always bounded: SIGTERM, then SIGKILL at the deadline.
public final class Master {
    public struct Options: Sendable {
        /// Unix socket path, or `host:port` for TCP.
        public var listen: String
        public var workers: Int
        /// The worker command; `--slot N` is appended for each worker.
        public var workerCommand: [String]
        public var gracefulTimeoutSeconds: Int
        /// Seconds a new worker may take to become ready during a start or reload.
        public var readyTimeoutSeconds: Int
        /// A request running longer gets its worker replaced (0: never).
        public var requestTimeoutSeconds: Int
        public var pidFile: String?
        public var scoreboardPath: String
        /// The jobs supervised beside the workers (the billing run, the webhook sender).
        public var jobs: [Job]
        /// The group that may connect to a unix socket besides its owner (nginx's workers').
        public var socketGroup: String?

        public init(
            listen: String, workers: Int, workerCommand: [String], gracefulTimeoutSeconds: Int,
            readyTimeoutSeconds: Int, requestTimeoutSeconds: Int, pidFile: String?, scoreboardPath: String,
            jobs: [Job], socketGroup: String? = nil
        ) {
            self.socketGroup = socketGroup
            self.listen = listen
            self.workers = workers
            self.workerCommand = workerCommand
            self.gracefulTimeoutSeconds = gracefulTimeoutSeconds
            self.readyTimeoutSeconds = readyTimeoutSeconds
            self.requestTimeoutSeconds = requestTimeoutSeconds
            self.pidFile = pidFile
            self.scoreboardPath = scoreboardPath
            self.jobs = jobs
        }
    }

    /// A process the master starts beside the workers, one at a time: every `interval`
    /// seconds (a billing run), or restarted with backoff whenever it exits (`interval` 0:
    /// a long-running sender). Stopped with the pool.
    public struct Job: Sendable {
        public var name: String
        public var command: [String]
        public var interval: Int

        public init(name: String, command: [String], interval: Int) {
            self.name = name
            self.command = command
            self.interval = interval
        }
    }

    /// A job and the state of its process.
    struct RunningJob {
        var job: Job
        var pid: pid_t?
        var nextStart: Int64 = 0
        var backoff = Backoff()
    }

    /// Exit status a worker uses after serving `--max-requests`: a planned recycle.
    public static let recycleExitCode: Int32 = 75

    struct Worker {
        var pid: pid_t
        var generation: Int
        var slot: Int
        var draining = false
        var drainDeadline: Int64 = 0
        var killedForTimeout = false
    }

    let options: Options
    var logger: Logger
    var board: Scoreboard!
    var listenFD: Int32 = -1
    var signalRead: Int32 = -1
    var workers: [pid_t: Worker] = [:]
    var reload = Reload()
    var generation: Int { reload.serving }
    var backoff = Backoff()
    var stopping = false
    var jobs: [RunningJob]

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        jobs = options.jobs.map { RunningJob(job: $0) }
    }

    /// Binds the socket, starts the workers and supervises them until stopped.
    public func run() throws -> Int32 {
        listenFD = try openListener(options.listen)
        board = try Scoreboard.create(path: options.scoreboardPath)
        board.set(.startTime, UInt64(Clock.wallSeconds()))
        board.set(.masterPID, UInt64(CShim_getpid()))
        board.set(.workersConfigured, UInt64(options.workers))
        board.set(.generation, UInt64(generation))
        var fds: [Int32] = [-1, -1]
        guard CShim_pipe(&fds) == 0 else { throw PoolError("pipe failed") }
        signalRead = fds[0]
        let signals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT]
        _ = CShim_signalsToPipe(fds[1], signals, Int32(signals.count))
        if let pidFile = options.pidFile { writePIDFile(pidFile) }
        defer { if let pidFile = options.pidFile { unlink(pidFile) } }

        logger.info("pool starting", metadata: ["listen": "\(options.listen)", "workers": "\(options.workers)"])
        for _ in 0..<options.workers { spawn(generation: generation) }
        while !stopping {
            _ = CShim_waitReadable(signalRead, -1, 100)
            for signal in drainSignals() {
                switch signal {
                case SIGTERM, SIGINT, SIGQUIT: stopping = true
                case SIGHUP: startReload()
                default: break
                }
            }
            reap()
            guard !stopping else { break }
            progressReload()
            escalateDrains()
            killTimedOutRequests()
            replaceMissingWorkers()
            startJobsIfDue()
        }
        shutdown()
        return 0
    }

    // MARK: processes

    func spawn(generation: Int) {
        let used = Set(workers.values.map(\.slot))
        guard let slotIndex = (0..<Scoreboard.maxSlots).first(where: { !used.contains($0) }) else {
            logger.error("no free scoreboard slot; not starting a worker")
            return
        }
        let slot = board.slot(slotIndex)
        slot.claim(pid: 0, generation: generation)
        guard let pid = start(options.workerCommand + ["--slot", "\(slotIndex)"], listenFD: listenFD) else {
            slot.release()
            return
        }
        slot.claim(pid: pid, generation: generation)
        workers[pid] = Worker(pid: pid, generation: generation, slot: slotIndex)
        logger.info(
            "worker started", metadata: ["worker": "\(pid)", "generation": "\(generation)", "slot": "\(slotIndex)"])
    }

    func start(_ command: [String], listenFD: Int32) -> pid_t? {
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var environment: [UnsafeMutablePointer<CChar>?] = []
        var entry = environ
        while let pointer = entry.pointee {
            environment.append(pointer)
            entry += 1
        }
        environment.append(nil)
        let pid = CShim_spawn(command[0], argv, environment, listenFD)
        guard pid > 0 else {
            logger.error("cannot start \(command[0])", metadata: ["error": "\(String(cString: strerror(-pid)))"])
            return nil
        }
        return pid
    }

    func reap() {
        var exitCode: Int32 = 0
        var termSignal: Int32 = 0
        while true {
            let pid = CShim_reap(&exitCode, &termSignal)
            guard pid > 0 else { return }
            if let index = jobs.firstIndex(where: { $0.pid == pid }) {
                jobs[index].pid = nil
                if exitCode != 0 || termSignal != 0 {
                    jobs[index].backoff.recordCrash(now: Clock.monotonicNanos())
                    logger.error(
                        "\(jobs[index].job.name) failed", metadata: ["code": "\(exitCode)", "signal": "\(termSignal)"])
                }
                continue
            }
            guard let worker = workers.removeValue(forKey: pid) else { continue }
            board.slot(worker.slot).release()
            let metadata: Logger.Metadata = [
                "worker": "\(pid)", "generation": "\(worker.generation)", "code": "\(exitCode)",
                "signal": "\(termSignal)",
            ]
            if worker.generation == reload.pending {
                abortReload(reason: "a new worker exited before it was ready", metadata)
            } else if stopping || worker.draining || worker.generation != generation {
                logger.info("worker exited", metadata: metadata)
            } else if worker.killedForTimeout {
                board.increment(.restartsTimeout)
            } else if exitCode == Self.recycleExitCode {
                board.increment(.restartsRecycle)
                logger.info("worker recycled after its maximum requests", metadata: metadata)
            } else {
                board.increment(.restartsCrash)
                backoff.recordCrash(now: Clock.monotonicNanos())
                logger.error("worker died; replacing it", metadata: metadata)
            }
        }
    }

    func replaceMissingWorkers() {
        let serving = workers.values.filter { $0.generation == generation && !$0.draining }.count
        guard serving < options.workers, backoff.mayStart(now: Clock.monotonicNanos()) else { return }
        for _ in serving..<options.workers { spawn(generation: generation) }
    }

    // MARK: reload

    func startReload() {
        let readyTimeout = Int64(options.readyTimeoutSeconds) * 1_000_000_000
        guard let next = reload.begin(now: Clock.monotonicNanos(), readyTimeout: readyTimeout) else {
            logger.warning("reload already in progress; ignoring SIGHUP")
            return
        }
        logger.info("reloading: starting generation \(next)")
        for _ in 0..<options.workers { spawn(generation: next) }
    }

    func progressReload() {
        guard let next = reload.pending else { return }
        let fresh = workers.values.filter { $0.generation == next }
        let allReady = fresh.count == options.workers && fresh.allSatisfy({ board.slot($0.slot).state == .ready })
        switch reload.progress(allReady: allReady, now: Clock.monotonicNanos()) {
        case .wait:
            break
        case .promote(let retired, let serving):
            board.set(.generation, UInt64(serving))
            board.increment(.reloads)
            board.set(.lastReload, 1)
            for worker in workers.values where worker.generation == retired { drain(worker.pid) }
            // Long-running jobs (the webhook sender) follow the new generation: asked to stop,
            // each finishes what it holds and is started again from the binary on disk.
            for job in jobs where job.job.interval == 0 { if let pid = job.pid { kill(pid, SIGTERM) } }
            logger.info("reloaded: generation \(serving) serves; the old one drains")
        case .abandon(let abandoned):
            failReload(abandoned, reason: "new workers were not ready within \(options.readyTimeoutSeconds) s", [:])
        }
    }

    func abortReload(reason: String, _ metadata: Logger.Metadata) {
        guard let abandoned = reload.abandon() else { return }
        failReload(abandoned, reason: reason, metadata)
    }

    private func failReload(_ next: Int, reason: String, _ metadata: Logger.Metadata) {
        for worker in workers.values where worker.generation == next { kill(worker.pid, SIGKILL) }
        board.increment(.reloadsFailed)
        board.set(.lastReload, 2)
        logger.error("reload failed: \(reason); generation \(generation) keeps serving", metadata: metadata)
    }

    /// Asks a worker to stop accepting and finish what it holds, with a deadline.
    func drain(_ pid: pid_t) {
        guard var worker = workers[pid] else { return }
        worker.draining = true
        worker.drainDeadline = Clock.monotonicNanos() + Int64(options.gracefulTimeoutSeconds) * 1_000_000_000
        workers[pid] = worker
        board.slot(worker.slot).markDraining()
        kill(pid, SIGTERM)
    }

    func escalateDrains() {
        let now = Clock.monotonicNanos()
        for worker in workers.values where worker.draining && worker.drainDeadline > 0 && now > worker.drainDeadline {
            logger.warning(
                "worker did not drain within \(options.gracefulTimeoutSeconds) s; killing it",
                metadata: ["worker": "\(worker.pid)"])
            kill(worker.pid, SIGKILL)
            workers[worker.pid]?.drainDeadline = 0
        }
    }

    // MARK: request timeout

    func killTimedOutRequests() {
        guard options.requestTimeoutSeconds > 0 else { return }
        let now = CShim_wallMillis()
        let limit = Int64(options.requestTimeoutSeconds) * 1000
        for worker in workers.values where !worker.killedForTimeout {
            for request in board.slot(worker.slot).current where now - request.startedMillis > limit {
                logger.error(
                    "request timed out; replacing its worker",
                    metadata: [
                        "worker": "\(worker.pid)", "request_id": "\(request.requestID)",
                        "method": "\(request.method)", "path": "\(request.path)",
                        "duration_ms": "\(now - request.startedMillis)",
                    ])
                workers[worker.pid]?.killedForTimeout = true
                kill(worker.pid, SIGKILL)
                break
            }
        }
    }

    // MARK: billing run

    /// Starts each job that is due and not running: a periodic one every interval (a
    /// billing run on several hosts is safe), a long-running one again after backoff.
    func startJobsIfDue() {
        let now = Clock.wallSeconds()
        for index in jobs.indices where jobs[index].pid == nil && !jobs[index].job.command.isEmpty {
            let job = jobs[index].job
            if job.interval > 0 {
                guard now >= jobs[index].nextStart else { continue }
                jobs[index].nextStart = now + Int64(job.interval)
            } else if !jobs[index].backoff.mayStart(now: Clock.monotonicNanos()) {
                continue
            }
            jobs[index].pid = start(job.command, listenFD: -1)
        }
    }

    // MARK: start and stop

    func openListener(_ listen: String) throws -> Int32 {
        let fd: Int32
        if Self.isUnixSocket(listen) {
            var gid: Int32 = -1
            if let group = options.socketGroup {
                guard let entry = getgrnam(group) else { throw PoolError("no such group: \(group)") }
                gid = Int32(bitPattern: entry.pointee.gr_gid)
            }
            fd = CShim_listenUnix(listen, 1024, gid)
        } else {
            let parts = listen.split(separator: ":")
            guard parts.count == 2, let port = Int32(parts[1]) else {
                throw PoolError("listen must be a socket path or host:port")
            }
            fd = CShim_listenTCP(String(parts[0]), port, 1024)
        }
        guard fd >= 0 else { throw PoolError("cannot listen on \(listen): \(String(cString: strerror(-fd)))") }
        return fd
    }

    static func isUnixSocket(_ listen: String) -> Bool { listen.contains("/") }

    func drainSignals() -> [Int32] {
        var signals: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = read(signalRead, &buffer, buffer.count)
            guard count > 0 else { break }
            signals += buffer[0..<count].map { Int32($0) }
        }
        return signals
    }

    func shutdown() {
        logger.info("pool stopping: draining workers")
        // New connections fail at once (nginx then tries another pool) while the
        // workers finish what they hold.
        if Self.isUnixSocket(options.listen) { unlink(options.listen) }
        abortReload(reason: "the pool is stopping", [:])
        for pid in Array(workers.keys) { drain(pid) }
        for job in jobs { if let pid = job.pid { kill(pid, SIGTERM) } }
        while !workers.isEmpty || jobs.contains(where: { $0.pid != nil }) {
            reap()
            escalateDrains()
            usleep(10_000)
        }
        close(listenFD)
        logger.info("pool stopped")
    }

    /// The PID on the first line, the scoreboard's path on the second (for `billing reload`).
    func writePIDFile(_ path: String) {
        let text = "\(CShim_getpid())\n\(options.scoreboardPath)\n"
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
