import ArgumentParser
import Billing
import Common
import Logging
import Postgres

#if canImport(Glibc)
    import Glibc
#endif

struct RunDue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-due",
        abstract: "Run billing once: renewals, trial ends, cancellations at period end, dunning.",
        discussion: """
            Safe to run any number of times at once, on any number of hosts: subscriptions are locked in \
            batches with FOR UPDATE SKIP LOCKED and each period is invoiced at most once. Prints the summary \
            as JSON. The pool runs this every BILLING_RUN_INTERVAL seconds by itself.
            """)

    @Option(help: "Bill as of this RFC 3339 time instead of now (never in the future).")
    var asOf: String?

    @Option(help: "Subscriptions per transaction.")
    var batchSize: Int = BillingRun.defaultBatchSize

    @Option(help: "Connections working at once; they share the batches through SKIP LOCKED.")
    var parallel: Int = 2

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let now = Timestamp.now()
        var asOf = now
        if let text = self.asOf {
            guard let parsed = Timestamp(parsing: text), parsed <= now else {
                throw ValidationError("--as-of must be an RFC 3339 time that is not in the future")
            }
            asOf = parsed
        }
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1…10000") }
        guard (1...16).contains(parallel) else { throw ValidationError("--parallel must be 1…16") }
        let conninfo = database.conninfo
        let config = try BillingConfig.fromEnvironment(processEnvironment())
        let batchSize = self.batchSize
        let runAsOf = asOf
        let results = inParallel(parallel) { index -> Result<BillingRun.Summary, any Error> in
            Result {
                let db = try Connection(conninfo: conninfo)
                // The months usage events can fall in exist before they arrive (the periodic
                // run is the service's clock for it).
                if index == 0 { try UsageEventService.ensurePartitions(around: now, on: db) }
                return try BillingRun.run(asOf: runAsOf, now: now, config: config, batchSize: batchSize, on: db)
            }
        }
        var summary = BillingRun.Summary(asOf: asOf)
        for result in results {
            switch result {
            case .success(let part): summary.add(part)
            case .failure(let error):
                // The pool runs this unattended: a failed run must be in the log with its cause.
                BillingCommand.bootstrapLogging()
                Logger(label: "billing.run-due").error(
                    "billing run failed", metadata: ["as_of": "\(asOf)", "error": "\(logDetail(error))"])
                throw ExitCode.failure
            }
        }
        print(summary.jsonString)
    }
}
