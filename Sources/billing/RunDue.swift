import ArgumentParser
import Billing
import Common
import Postgres

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
        let db = try Connection(conninfo: database.conninfo)
        let config = BillingConfig.fromEnvironment(processEnvironment())
        let summary = try BillingRun.run(asOf: asOf, config: config, batchSize: batchSize, on: db)
        print(summary.jsonString)
    }
}
