import Billing
import CShim
import Common
import HTTP
import Postgres

/// `POST /billing/run`: the same run as `billing run-due` and the pool's timer.
enum BillingRunRoutes {
    /// The body: an optional field in a type of its own, so that "no `as_of`" is never
    /// read as "no input".
    struct Request { var asOf: Timestamp? }

    static func register(in api: inout API) {
        // The run commits in batches of its own, so it is not wrapped in one transaction.
        api.write("POST", "/billing/run", bodyOptional: true, transactional: false) { reader -> Request? in
            Request(asOf: reader.timestamp("as_of"))
        } perform: { request, call in
            let asOf = request.asOf ?? call.now
            guard asOf <= call.now else {
                throw BillingError.invalid(field: "as_of", message: "must not be in the future")
            }
            // A run sends statements of hundreds of invoices with their events, megabytes
            // each, and libpq keeps its buffers as large as the largest: the connection is
            // closed after the run and what was freed goes back to the system, so that the
            // worker's size stays what serving requests needs (measured: 25.7 MB after
            // catching up 13,000 invoices, 22.8 MB before the run).
            defer {
                call.context.releaseDatabase()
                CShim_releaseFreeMemory()
            }
            do {
                return .json(
                    200,
                    try BillingRun.run(asOf: asOf, now: call.now, config: call.context.config, on: call.database()))
            } catch {
                call.context.logger.error(
                    "billing run failed", metadata: ["as_of": "\(asOf)", "error": "\(logDetail(error))"])
                throw error
            }
        }
    }
}
