import ArgumentParser
import Logging
import Pool

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the pool master: bind the FastCGI socket and supervise worker processes.",
        discussion: """
            The master owns the socket and never serves. Workers are this binary's `worker` command with the \
            socket as fd 0. SIGTERM or SIGINT drains the workers and exits 0; SIGHUP starts a new generation \
            of workers and then retires the old one.
            """)

    @Option(help: "Unix socket path or host:port to listen on.")
    var socket: String = ".data/billing.sock"

    @Option(help: "Worker processes.")
    var workers: Int = 2

    @Option(help: "Accept threads per worker, each with its own PostgreSQL connection.")
    var threads: Int = 4

    @Option(help: "Seconds a draining worker may take before it is killed.")
    var gracefulTimeout: Int = 30

    @Option(help: "Write the master's PID to this file.")
    var pidFile: String?

    @Option(help: "Seconds between billing runs started by the pool (0: off). Default: $BILLING_RUN_INTERVAL, else 60.")
    var billingRunInterval: Int?

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be 1…256") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1…256") }
    }

    func run() throws {
        BillingCommand.bootstrapLogging()
        var command = [executablePath(), "worker", "--threads", "\(threads)"]
        var runCommand = [executablePath(), "run-due"]
        if let url = database.databaseURL {
            command += ["--database-url", url]
            runCommand += ["--database-url", url]
        }
        let interval = billingRunInterval ?? processEnvironment()["BILLING_RUN_INTERVAL"].flatMap { Int($0) } ?? 60
        let master = Master(
            options: .init(
                listen: socket, workers: workers, workerCommand: command, gracefulTimeoutSeconds: gracefulTimeout,
                pidFile: pidFile, billingRunCommand: runCommand, billingRunInterval: max(0, interval)),
            logger: Logger(label: "billing.pool"))
        throw ExitCode(try master.run())
    }
}
