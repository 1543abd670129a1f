import Billing
import Common
import HTTP

/// `/reports/…` (documents.md): MRR, its movements, revenue and subscriptions.
enum ReportRoutes {
    static let intervals = ["month", "day"]

    static func register(in api: inout API) {
        api.read("/reports/mrr") { call in
            var query = try call.query()
            let asOf = query.timestamp("as_of")
            try query.finish()
            return .json(200, try ReportService.mrr(asOf: asOf ?? call.now, on: call.database()))
        }

        api.read("/reports/overdue") { call in
            var query = try call.query()
            let limit = query.integer("limit", in: 1...100)
            let currency = query.string("currency", maxLength: 3)
            if let currency, Currency(code: currency) == nil {
                query.fail("currency", "must be an upper-case ISO 4217 code")
            }
            try query.finish()
            return .json(
                200,
                try ReportService.overdue(now: call.now, currency: currency, limit: limit ?? 10, on: call.database()))
        }

        api.read("/reports/revenue") { call in
            let buckets = try buckets(call)
            return .json(200, try ReportService.revenue(buckets, now: call.now, on: call.database()))
        }

        api.read("/reports/mrr-movements") { call in
            .json(200, try ReportService.mrrMovements(try buckets(call), on: call.database()))
        }

        api.read("/reports/subscriptions") { call in
            .json(200, try ReportService.subscriptions(try buckets(call), on: call.database()))
        }
    }

    /// `from`, `to` (RFC 3339, `from` before `to`) and `interval` (month, the default, or
    /// day): at most `ReportService.maxBuckets` buckets, else 422.
    static func buckets(_ call: Call) throws -> ReportService.Buckets {
        var query = try call.query()
        let from = query.timestamp("from")
        let to = query.timestamp("to")
        let interval = query.oneOf("interval", intervals).flatMap(BillingInterval.Unit.init(rawValue:)) ?? .month
        if query.string("from") == nil { query.fail("from", "is required") }
        if query.string("to") == nil { query.fail("to", "is required") }
        if let from, let to, from >= to { query.fail("from", "must be before to") }
        try query.finish()
        guard let from, let to else { throw Problem.validation(field: "from", "is required") }
        guard let buckets = ReportService.Buckets(from: from, to: to, interval: interval) else {
            throw Problem.validation(
                field: "to",
                "spans more than \(ReportService.maxBuckets) \(interval.rawValue)s; ask for a shorter range")
        }
        return buckets
    }
}
