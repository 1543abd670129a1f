import ArgumentParser
import Billing
import Logging
import Pool

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the pool master: bind the FastCGI socket and supervise worker processes.",
        discussion: """
            The master owns the socket and never serves. Workers are this binary's `worker` command with the \
            socket as fd 0. SIGHUP (or `billing reload`) starts a new generation from the binary on disk and \
            retires the old one once every new worker is ready; a generation that fails to start is abandoned \
            and the old one keeps serving. SIGTERM or SIGINT (or `billing stop`) drains the workers and exits 0.
            """)

    @Option(help: "Unix socket path or host:port to listen on.")
    var socket: String = ".data/billing.sock"

    @Option(
        help: """
            The group allowed to connect to a unix socket besides its owner: nginx's workers'. The socket is \
            mode 0660, so no other local user can reach the pool without nginx.
            """)
    var socketGroup: String?

    @Option(help: "Worker processes.")
    var workers: Int = 2

    @Option(help: "Threads per worker, each with its own PostgreSQL connection.")
    var threads: Int = 4

    @Option(help: "Seconds a draining worker may take before it is killed.")
    var gracefulTimeout: Int = 30

    @Option(help: "Seconds a new worker may take to become ready (start or reload).")
    var readyTimeout: Int = 15

    @Option(help: "Seconds a request may run before its worker is replaced (0: no limit).")
    var requestTimeout: Int = 60

    @Option(help: "Requests a worker serves before it is recycled, with up to 10% jitter (0: never).")
    var maxRequests: Int = 0

    @Option(help: "Write the master's PID (and the scoreboard's path) to this file.")
    var pidFile: String?

    @Option(help: "The shared scoreboard file. Default: billing.scoreboard beside the socket (or in .data).")
    var scoreboard: String?

    @Option(help: "Seconds between billing runs started by the pool (0: off). Default: $BILLING_RUN_INTERVAL, else 60.")
    var billingRunInterval: Int?

    @Flag(inversion: .prefixedNo, help: "Run a webhook sender beside the workers (restarted if it dies).")
    var webhookSender = true

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard (1...Scoreboard.maxSlots / 2).contains(workers) else {
            throw ValidationError("--workers must be 1…\(Scoreboard.maxSlots / 2)")
        }
        guard (1...Scoreboard.maxThreads).contains(threads) else {
            throw ValidationError("--threads must be 1…\(Scoreboard.maxThreads)")
        }
        guard gracefulTimeout >= 0, readyTimeout > 0, requestTimeout >= 0, maxRequests >= 0 else {
            throw ValidationError("timeouts and --max-requests must not be negative")
        }
        // The workers read the same environment: refuse here, before any of them starts.
        do { _ = try BillingConfig.fromEnvironment(processEnvironment()) } catch let error
            as BillingConfig.InvalidSetting
        {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        BillingCommand.bootstrapLogging()
        let scoreboardPath = scoreboard ?? Self.defaultScoreboard(for: socket)
        var command = [
            executablePath(), "worker", "--threads", "\(threads)", "--scoreboard", scoreboardPath, "--max-requests",
            "\(maxRequests)",
        ]
        var runCommand = [executablePath(), "run-due"]
        var senderCommand = [executablePath(), "webhook-sender"]
        if let url = database.databaseURL {
            command += ["--database-url", url]
            runCommand += ["--database-url", url]
            senderCommand += ["--database-url", url]
        }
        let interval = billingRunInterval ?? processEnvironment()["BILLING_RUN_INTERVAL"].flatMap { Int($0) } ?? 60
        let master = Master(
            options: .init(
                listen: socket, workers: workers, workerCommand: command, gracefulTimeoutSeconds: gracefulTimeout,
                readyTimeoutSeconds: readyTimeout, requestTimeoutSeconds: requestTimeout, pidFile: pidFile,
                scoreboardPath: scoreboardPath,
                jobs: (interval > 0 ? [Master.Job(name: "billing run", command: runCommand, interval: interval)] : [])
                    + (webhookSender ? [Master.Job(name: "webhook sender", command: senderCommand, interval: 0)] : []),
                socketGroup: socketGroup),
            logger: Logger(label: "billing.pool"))
        throw ExitCode(try master.run())
    }

    static func defaultScoreboard(for socket: String) -> String {
        guard let slash = socket.lastIndex(of: "/") else { return ".data/billing.scoreboard" }
        return socket[..<slash] + "/billing.scoreboard"
    }
}
