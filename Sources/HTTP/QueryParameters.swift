import Common

/// A parsed query string. Reading consumes parameters so that `finish()` can refuse the
/// ones nobody asked for (typos never pass silently), like unknown body fields.
public struct QueryParameters {
    private var values: [(name: String, value: String)] = []
    private var consumed: Set<String> = []
    private var errors: [FieldError] = []

    /// Parses `a=1&b=x%20y`; bad percent-encoding, invalid UTF-8 or a repeated name is a 422.
    public init(_ query: String) throws(Problem) {
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw Problem.validation(field: "query", "invalid percent-encoding")
            }
            guard !values.contains(where: { $0.name == name }) else {
                throw Problem.validation(field: name, "given more than once")
            }
            values.append((name, value))
        }
    }

    private static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self), !string.utf8.contains(0) else { return nil }
        return string
    }

    public mutating func string(_ name: String) -> String? {
        consumed.insert(name)
        return values.first { $0.name == name }?.value
    }

    /// A text parameter of at most `maxLength` characters (longer is a 422).
    public mutating func string(_ name: String, maxLength: Int) -> String? {
        guard let text = string(name) else { return nil }
        guard text.unicodeScalars.count <= maxLength else {
            errors.append(FieldError(field: name, message: "must be at most \(maxLength) characters"))
            return nil
        }
        return text
    }

    /// An RFC 3339 timestamp.
    public mutating func timestamp(_ name: String) -> Timestamp? {
        guard let text = string(name) else { return nil }
        guard let timestamp = Timestamp(parsing: text) else {
            errors.append(
                FieldError(field: name, message: "must be an RFC 3339 timestamp such as 2026-01-31T10:00:00Z"))
            return nil
        }
        return timestamp
    }

    /// Records a problem with a parameter, reported by `finish()`.
    public mutating func fail(_ name: String, _ message: String) {
        errors.append(FieldError(field: name, message: message))
    }

    public mutating func integer(_ name: String, in range: ClosedRange<Int>) -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            errors.append(
                FieldError(field: name, message: "must be an integer from \(range.lowerBound) to \(range.upperBound)"))
            return nil
        }
        return value
    }

    public mutating func bool(_ name: String) -> Bool? {
        guard let text = string(name) else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default:
            errors.append(FieldError(field: name, message: "must be true or false"))
            return nil
        }
    }

    public mutating func id<Entity>(_ name: String, as: Entity.Type = Entity.self) -> ID<Entity>? {
        guard let text = string(name) else { return nil }
        guard let id = ID<Entity>(parsing: text) else {
            errors.append(FieldError(field: name, message: "must be a UUID"))
            return nil
        }
        return id
    }

    /// A value from a fixed set (a status filter, an event type).
    public mutating func oneOf(_ name: String, _ allowed: [String]) -> String? {
        guard let text = string(name) else { return nil }
        guard allowed.contains(text) else {
            errors.append(FieldError(field: name, message: "must be one of: \(allowed.joined(separator: ", "))"))
            return nil
        }
        return text
    }

    /// `limit` (1…100, default 20) and `starting_after` (an id), as every list takes them.
    public mutating func page() -> PageRequest {
        PageRequest(
            limit: integer("limit", in: 1...100) ?? 20,
            startingAfter: id("starting_after", as: Void.self)?.uuid)
    }

    /// Throws a 422 listing every invalid or unknown parameter.
    public func finish() throws(Problem) {
        var all = errors
        for (name, _) in values where !consumed.contains(name) {
            all.append(FieldError(field: name, message: "unknown query parameter"))
        }
        if !all.isEmpty { throw Problem.validation(all) }
    }
}
