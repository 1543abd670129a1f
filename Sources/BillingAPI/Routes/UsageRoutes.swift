import Billing
import Common
import HTTP

/// `/usage-events` and `GET /subscriptions/{id}/usage` (`usage.md`).
enum UsageRoutes {
    static func register(in api: inout API) {
        api.write("POST", "/usage-events", maxBodyBytes: API.maxBatchBodyBytes) {
            reader -> [UsageEventService.Input]? in
            guard
                let elements = reader.objects(
                    "events", required: true, maxCount: UsageEventService.maximumBatch)
            else { return nil }
            guard !elements.isEmpty else {
                reader.fail("events", "must have 1 to \(UsageEventService.maximumBatch) events")
                return nil
            }
            var events: [UsageEventService.Input] = []
            events.reserveCapacity(elements.count)
            for var element in elements {
                let event = self.event(&element)
                reader.absorb(element)
                if let event { events.append(event) }
            }
            return events.count == elements.count ? events : nil
        } perform: { events, call in
            do {
                return .json(200, try UsageEventService.ingest(events, now: call.now, on: call.database()))
            } catch let refusal as UsageEventService.Refusal {
                throw Problem.validation(refusal.problems.map { FieldError(field: $0.field, message: $0.message) })
            }
        }

        api.read("/usage-events") { call in
            var query = try call.query()
            let customer = query.id("customer_id", as: Customer.self)
            let meter = query.string("meter", maxLength: 100)
            let from = query.timestamp("from")
            let to = query.timestamp("to")
            let limit = query.integer("limit", in: 1...100) ?? 20
            let cursor = query.string("starting_after", maxLength: 20)
            if customer == nil, query.string("customer_id") == nil { query.fail("customer_id", "is required") }
            try query.finish()
            guard let customer else { throw Problem.validation(field: "customer_id", "must be a UUID") }
            return .json(
                200,
                try UsageEventService.list(
                    .init(customerID: customer, meter: meter, from: from, to: to), limit: limit, after: cursor,
                    on: call.database()))
        }

        api.read("/subscriptions/{id}/usage") { call in
            .json(200, try UsageBilling.current(call.id(0, "subscription"), on: call.database()))
        }
    }

    /// One event of a batch, its errors named by its index.
    private static func event(_ reader: inout FieldReader) -> UsageEventService.Input? {
        let id = reader.string("id", required: true, maxLength: 255)
        let meter = reader.string("meter", required: true, maxLength: 100)
        let customer = reader.id("customer_id", required: true, as: Customer.self)
        let timestamp = reader.timestamp("timestamp")
        var properties: [JSONMember] = []
        if let value = reader.peek("properties") {
            reader.markKnown("properties")
            properties = self.properties(value, &reader) ?? []
        }
        guard let id, let meter, let customer, reader.problems.isEmpty else { return nil }
        return UsageEventService.Input(
            id: id, meter: meter, customerID: customer, timestamp: timestamp, properties: properties)
    }

    /// A flat object of at most 20 keys whose values are strings, numbers, booleans or null.
    private static func properties(_ value: JSONValue, _ reader: inout FieldReader) -> [JSONMember]? {
        guard case .object(let members) = value else {
            reader.fail("properties", "must be an object, not \(value.typeName)")
            return nil
        }
        guard members.count <= 20 else {
            reader.fail("properties", "must have at most 20 keys")
            return nil
        }
        var keys = Set<String>()
        for member in members {
            let field = "properties.\(member.key)"
            guard keys.insert(member.key).inserted else {
                reader.fail(field, "given more than once")
                return nil
            }
            guard (1...100).contains(member.key.unicodeScalars.count), !member.key.unicodeScalars.contains("\u{0}")
            else {
                reader.fail("properties", "keys must be 1 to 100 characters without NUL")
                return nil
            }
            switch member.value {
            case .object, .array:
                reader.fail(field, "must be a string, number, boolean or null: properties are flat")
                return nil
            case .string(let text) where text.unicodeScalars.count > 500 || text.unicodeScalars.contains("\u{0}"):
                reader.fail(field, "must be at most 500 characters without NUL")
                return nil
            default: continue
            }
        }
        return members
    }
}
