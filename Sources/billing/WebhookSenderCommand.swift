import ArgumentParser
import Billing
import CShim
import Logging
import Webhooks

#if canImport(Glibc)
    import Glibc
#endif

struct WebhookSenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook-sender",
        abstract: "Deliver webhooks until stopped (SIGTERM): the pool runs one and restarts it if it dies.",
        discussion: """
            Any number may run at once, on any number of hosts: each claims due deliveries with FOR UPDATE \
            SKIP LOCKED under a lease, so none is sent by two at once, and a delivery whose sender died is \
            taken again when its lease passes (at least once). Reads WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE, \
            WEBHOOK_RETRY_SCHEDULE and WEBHOOK_DISABLE_AFTER.
            """)

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        BillingCommand.bootstrapLogging()
        _ = CShim_dieWithParent(SIGTERM)
        _ = CShim_ignoreSIGPIPE()
        let stopSignals = [SIGTERM, SIGINT, SIGQUIT]
        _ = stopSignals.withUnsafeBufferPointer { CShim_signalsToPipe(-1, $0.baseAddress, Int32($0.count)) }
        let config = try BillingConfig.fromEnvironment(processEnvironment())
        let logger = Logger(label: "billing.webhooks")
        logger.info("webhook sender started")
        let sender = WebhookSender(conninfo: database.conninfo, settings: config.webhooks, logger: logger)
        try sender.run { CShim_stopRequested() != 0 }
        logger.info("webhook sender stopped")
    }
}
