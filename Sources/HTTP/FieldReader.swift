import Common

/// Reads the fields of a JSON request object with exact types and bounds, collecting
/// every problem instead of stopping at the first, and refusing unknown or repeated
/// fields in `finish()`.
public struct FieldReader {
    private let members: [JSONMember]
    /// What names this object in errors: `""` for the body, `events[3].` for an element.
    private let prefix: String
    private var consumed: Set<String> = []
    public private(set) var errors: [FieldError] = []

    /// Parses `body` as a JSON object: invalid JSON is a 400, anything but an object a 422.
    public init(body: [UInt8]) throws(Problem) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw Problem.malformedJSON("invalid JSON at byte \(error.offset): \(error.reason)")
        }
        guard case .object(let members) = value else {
            throw Problem.validation(field: "body", "must be a JSON object, not \(value.typeName)")
        }
        self.init(members: members, prefix: "")
    }

    private init(members: [JSONMember], prefix: String) {
        self.members = members
        self.prefix = prefix
        var seen: Set<String> = []
        for member in members where !seen.insert(member.key).inserted {
            errors.append(FieldError(field: prefix + member.key, message: "given more than once"))
        }
    }

    /// Whether the field is present (even as null).
    public func has(_ name: String) -> Bool { members.contains { $0.key == name } }

    /// The field's raw value, without reading it (nil when absent).
    public func peek(_ name: String) -> JSONValue? { members.first { $0.key == name }?.value }

    public mutating func fail(_ name: String, _ message: String) {
        errors.append(FieldError(field: prefix + name, message: message))
    }

    /// An array of at most `maxCount` objects, each read by its own reader whose errors name
    /// it by index (`events[3].timestamp`); `absorb` brings a reader's problems back here.
    public mutating func objects(_ name: String, required: Bool = false, maxCount: Int) -> [FieldReader]? {
        guard let value = value(name, required: required) else { return nil }
        guard case .array(let elements) = value else {
            fail(name, "must be an array of objects, not \(value.typeName)")
            return nil
        }
        guard elements.count <= maxCount else {
            fail(name, "must have at most \(maxCount) elements")
            return nil
        }
        var readers: [FieldReader] = []
        for (index, element) in elements.enumerated() {
            let path = "\(name)[\(index)]"
            guard case .object(let members) = element else {
                fail(path, "must be an object, not \(element.typeName)")
                readers.append(FieldReader(members: [], prefix: prefix + path + "."))
                continue
            }
            readers.append(FieldReader(members: members, prefix: prefix + path + "."))
        }
        return readers
    }

    /// Adds a nested reader's problems (its errors and its unknown fields) to this one's.
    public mutating func absorb(_ nested: FieldReader) { errors += nested.problems }

    /// Every problem found so far, with every field nobody read.
    public var problems: [FieldError] {
        var all = errors
        for member in members where !consumed.contains(member.key) {
            all.append(FieldError(field: prefix + member.key, message: "unknown field"))
        }
        return all
    }

    private mutating func value(_ name: String, required: Bool) -> JSONValue? {
        consumed.insert(name)
        guard let member = members.first(where: { $0.key == name }) else {
            if required { fail(name, "is required") }
            return nil
        }
        return member.value
    }

    /// A string of 1…`maxLength` Unicode scalars without NUL; `allowEmpty` for optional text.
    public mutating func string(
        _ name: String, required: Bool = false, maxLength: Int = 500, allowEmpty: Bool = false
    ) -> String? {
        guard let value = value(name, required: required) else { return nil }
        guard case .string(let text) = value else {
            fail(name, "must be a string, not \(value.typeName)")
            return nil
        }
        return check(text, field: name, maxLength: maxLength, allowEmpty: allowEmpty)
    }

    private mutating func check(_ text: String, field: String, maxLength: Int, allowEmpty: Bool) -> String? {
        if text.unicodeScalars.contains("\u{0}") {
            fail(field, "must not contain NUL characters")
            return nil
        }
        let length = text.unicodeScalars.count
        if length == 0 && !allowEmpty || text.allSatisfy({ $0.isWhitespace }) && !allowEmpty {
            fail(field, "must not be empty")
            return nil
        }
        if length > maxLength {
            fail(field, "must be at most \(maxLength) characters")
            return nil
        }
        return text
    }

    /// An integer written without fraction or exponent, within `range`.
    public mutating func integer(_ name: String, required: Bool = false, in range: ClosedRange<Int64>) -> Int64? {
        guard let value = value(name, required: required) else { return nil }
        guard case .number(let text) = value else {
            fail(name, "must be an integer, not \(value.typeName)")
            return nil
        }
        guard let number = Int64(text) else {
            let looksIntegral = !text.contains(".") && !text.contains("e") && !text.contains("E")
            fail(name, looksIntegral ? "must be from \(range.lowerBound) to \(range.upperBound)" : "must be an integer")
            return nil
        }
        guard range.contains(number) else {
            fail(name, "must be from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }

    public mutating func bool(_ name: String, required: Bool = false) -> Bool? {
        guard let value = value(name, required: required) else { return nil }
        guard case .bool(let flag) = value else {
            fail(name, "must be a boolean, not \(value.typeName)")
            return nil
        }
        return flag
    }

    public mutating func id<Entity>(_ name: String, required: Bool = false, as: Entity.Type = Entity.self) -> ID<
        Entity
    >? {
        guard let text = string(name, required: required, maxLength: 36) else { return nil }
        guard let id = ID<Entity>(parsing: text) else {
            fail(name, "must be a UUID")
            return nil
        }
        return id
    }

    /// An array of at most `maxCount` UUIDs.
    public mutating func ids<Entity>(_ name: String, maxCount: Int, as: Entity.Type = Entity.self) -> [ID<Entity>]? {
        guard let value = value(name, required: false) else { return nil }
        guard case .array(let elements) = value else {
            fail(name, "must be an array of ids, not \(value.typeName)")
            return nil
        }
        guard elements.count <= maxCount else {
            fail(name, "must have at most \(maxCount) ids")
            return nil
        }
        var ids: [ID<Entity>] = []
        for element in elements {
            guard case .string(let text) = element, let id = ID<Entity>(parsing: text) else {
                fail(name, "must be an array of UUID strings")
                return nil
            }
            ids.append(id)
        }
        return ids
    }

    /// An array of strings, each 1…`maxLength` characters.
    public mutating func strings(_ name: String, required: Bool = false, maxCount: Int, maxLength: Int) -> [String]? {
        guard let value = value(name, required: required) else { return nil }
        guard case .array(let elements) = value else {
            fail(name, "must be an array of strings, not \(value.typeName)")
            return nil
        }
        guard elements.count <= maxCount else {
            fail(name, "must have at most \(maxCount) elements")
            return nil
        }
        var strings: [String] = []
        for element in elements {
            guard case .string(let text) = element, (1...maxLength).contains(text.count) else {
                fail(name, "must be an array of strings of 1 to \(maxLength) characters")
                return nil
            }
            strings.append(text)
        }
        return strings
    }

    /// An RFC 3339 timestamp; an offset is accepted and normalised to UTC.
    public mutating func timestamp(_ name: String, required: Bool = false) -> Timestamp? {
        guard let text = string(name, required: required, maxLength: 64) else { return nil }
        guard let timestamp = Timestamp(parsing: text), timestamp >= .minimum, timestamp <= .maximum else {
            fail(name, "must be an RFC 3339 timestamp such as 2026-01-31T10:00:00Z")
            return nil
        }
        return timestamp
    }

    /// An object of string keys to string values (metadata), bounded in size.
    public mutating func stringMap(
        _ name: String, maxEntries: Int = 20, maxKeyLength: Int = 40, maxValueLength: Int = 500
    ) -> [JSONMember]? {
        guard let value = value(name, required: false) else { return nil }
        guard case .object(let members) = value else {
            fail(name, "must be an object of strings, not \(value.typeName)")
            return nil
        }
        guard members.count <= maxEntries else {
            fail(name, "must have at most \(maxEntries) keys")
            return nil
        }
        var seen: Set<String> = []
        for member in members {
            let field = "\(name).\(member.key)"
            guard seen.insert(member.key).inserted else {
                fail(field, "given more than once")
                return nil
            }
            guard check(member.key, field: field, maxLength: maxKeyLength, allowEmpty: false) != nil else { return nil }
            guard case .string(let text) = member.value else {
                fail(field, "must be a string, not \(member.value.typeName)")
                return nil
            }
            guard check(text, field: field, maxLength: maxValueLength, allowEmpty: true) != nil else { return nil }
        }
        return members
    }

    /// Marks a field as known without reading it (for fields refused with a specific message).
    public mutating func markKnown(_ name: String) { consumed.insert(name) }

    /// Throws a 422 for every collected problem and every field nobody read.
    public func finish() throws(Problem) {
        let all = problems
        if !all.isEmpty { throw Problem.validation(all) }
    }
}
