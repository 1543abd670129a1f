import Billing
import CShim
import Common
import HTTP

/// `/test-clocks` (`time.md`): clocks that customers live on, moved only by advancing.
enum TestClockRoutes {
    /// Clocks are set within this century: a clock's customers' catch-up is bounded like a
    /// back-dated subscription's (`SubscriptionService.earliestStart`).
    static let earliest = SubscriptionService.earliestStart
    static let latest = Timestamp(epochSeconds: 4_102_444_800)  // 2100-01-01T00:00:00Z

    /// `frozen_time`, required and within the range above.
    static func frozenTime(_ reader: inout FieldReader) -> Timestamp? {
        guard let time = reader.timestamp("frozen_time", required: true) else { return nil }
        guard time >= earliest, time < latest else {
            reader.fail("frozen_time", "must be from \(earliest) to before \(latest)")
            return nil
        }
        return time
    }

    static func register(in api: inout API) {
        api.write("POST", "/test-clocks") { reader -> TestClockService.Create? in
            let time = frozenTime(&reader)
            let name = reader.string("name", maxLength: 200, allowEmpty: true) ?? ""
            guard let time else { return nil }
            return TestClockService.Create(frozenTime: time, name: name)
        } perform: { input, call in
            .json(201, try TestClockService.create(input, now: call.now, on: call.database()))
        }

        api.read("/test-clocks") { call in
            var query = try call.query()
            let page = query.page()
            try query.finish()
            return .json(200, try TestClockService.list(page: page, on: call.database()))
        }

        api.read("/test-clocks/{id}") { call in
            .json(200, try TestClockService.get(call.id(0, "test clock"), on: call.database()))
        }

        // An advance commits step by step (the clock says `advancing` meanwhile), so it is
        // not wrapped in one transaction; like the billing run, its connection is closed
        // after it so that the worker gives back what large statements made libpq keep.
        api.write("POST", "/test-clocks/{id}/advance", transactional: false) { reader -> Timestamp? in
            frozenTime(&reader)
        } perform: { target, call in
            defer {
                call.context.releaseDatabase()
                CShim_releaseFreeMemory()
            }
            // A second connection works beside the request's on its own shard of the clock's
            // customers, and is closed with the advance.
            let helper = try call.context.extraConnection()
            return .json(
                200,
                try TestClockService.advance(
                    call.id(0, "test clock"), to: target, now: call.now, config: call.context.config,
                    on: call.database(), helpers: [helper]))
        }
    }
}
