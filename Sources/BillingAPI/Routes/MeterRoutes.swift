import Billing
import Common
import HTTP

/// `/meters` (`usage.md`): what usage events add up to. Aggregation and properties never change.
enum MeterRoutes {
    static let immutableFields = ["code", "aggregation", "value_property", "unique_property"]

    static func register(in api: inout API) {
        api.write("POST", "/meters") { reader -> MeterService.Create? in
            let code = reader.string("code", required: true, maxLength: 100)
            if let code, !code.utf8.allSatisfy(isCodeByte) {
                reader.fail("code", "must be 1 to 100 of a-z, 0-9, _ . -")
            }
            let name = reader.string("name", required: true, maxLength: 200)
            let aggregation = Validation.choice(&reader, "aggregation", required: true, as: Meter.Aggregation.self)
            let valueProperty = reader.string("value_property", maxLength: 100)
            let uniqueProperty = reader.string("unique_property", maxLength: 100)
            if let aggregation {
                if aggregation.needsValue, valueProperty == nil, !reader.has("value_property") {
                    reader.fail("value_property", "is required when aggregation is \(aggregation.rawValue)")
                }
                if !aggregation.needsValue, reader.has("value_property") {
                    reader.fail("value_property", "applies only to sum, max and latest")
                }
                if aggregation == .uniqueCount, uniqueProperty == nil, !reader.has("unique_property") {
                    reader.fail("unique_property", "is required when aggregation is unique_count")
                }
                if aggregation != .uniqueCount, reader.has("unique_property") {
                    reader.fail("unique_property", "applies only to unique_count")
                }
            }
            guard let code, let name, let aggregation else { return nil }
            return MeterService.Create(
                code: code, name: name, aggregation: aggregation, valueProperty: valueProperty,
                uniqueProperty: uniqueProperty)
        } perform: { input, call in
            .json(201, try MeterService.create(input, now: call.now, on: call.database()))
        }

        api.read("/meters") { call in
            var query = try call.query()
            let isActive = query.bool("is_active")
            let page = query.page()
            try query.finish()
            return .json(200, try MeterService.list(isActive: isActive, page: page, on: call.database()))
        }

        api.read("/meters/{id}") { call in
            .json(200, try MeterService.get(call.id(0, "meter"), on: call.database()))
        }

        api.write("PATCH", "/meters/{id}") { reader in
            for field in immutableFields where reader.has(field) {
                reader.markKnown(field)
                reader.fail(field, "never changes; create a new meter instead")
            }
            return MeterService.Update(name: reader.string("name", maxLength: 200), isActive: reader.bool("is_active"))
        } perform: { input, call in
            .json(200, try MeterService.update(call.id(0, "meter"), input, now: call.now, on: call.database()))
        }
    }

    private static func isCodeByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }
}
