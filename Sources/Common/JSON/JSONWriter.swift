/// A type that writes itself as JSON by hand: about a microsecond per object, against
/// tens of microseconds through `JSONEncoder`.
public protocol JSONWritable {
    func write(to json: inout JSONWriter)
}

/// Builds a JSON document into a byte buffer. Commas are placed automatically: a value
/// or key that does not follow `{`, `[` or `:` is preceded by one.
public struct JSONWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        guard let last = bytes.last else { return }
        if last != UInt8(ascii: "{") && last != UInt8(ascii: "[") && last != UInt8(ascii: ":") {
            bytes.append(UInt8(ascii: ","))
        }
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
    }

    public mutating func endObject() { bytes.append(UInt8(ascii: "}")) }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
    }

    public mutating func endArray() { bytes.append(UInt8(ascii: "]")) }

    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    public mutating func value(_ string: String) {
        separate()
        appendQuoted(string)
    }

    public mutating func value(_ number: Int64) {
        separate()
        bytes.append(contentsOf: String(number).utf8)
    }

    public mutating func value(_ number: Int) { value(Int64(number)) }

    public mutating func value(_ flag: Bool) {
        separate()
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
    }

    public mutating func value(_ timestamp: Timestamp) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        timestamp.appendRFC3339(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func value(_ item: some JSONWritable) { item.write(to: &self) }

    public mutating func value(_ json: JSONValue) {
        switch json {
        case .null: null()
        case .bool(let flag): value(flag)
        case .number(let text):
            separate()
            bytes.append(contentsOf: text.utf8)
        case .string(let text): value(text)
        case .array(let elements):
            beginArray()
            for element in elements { value(element) }
            endArray()
        case .object(let members):
            beginObject()
            for member in members {
                key(member.key)
                value(member.value)
            }
            endObject()
        }
    }

    /// Writes text that is already valid JSON (for instance a jsonb column).
    public mutating func raw(_ json: String) {
        separate()
        bytes.append(contentsOf: json.utf8)
    }

    /// Writes members (`"a":1,"b":2`) written by another writer into the open object.
    public mutating func rawMembers(_ members: [UInt8]) {
        guard !members.isEmpty else { return }
        separate()
        bytes.append(contentsOf: members)
    }

    // MARK: key-value conveniences; nil is written as null.

    public mutating func field(_ name: String, _ string: String?) {
        key(name)
        if let string { value(string) } else { null() }
    }

    public mutating func field(_ name: String, _ number: Int64?) {
        key(name)
        if let number { value(number) } else { null() }
    }

    public mutating func field(_ name: String, _ number: Int) { field(name, Int64(number)) }

    public mutating func field(_ name: String, _ flag: Bool) {
        key(name)
        value(flag)
    }

    public mutating func field(_ name: String, _ timestamp: Timestamp?) {
        key(name)
        if let timestamp { value(timestamp) } else { null() }
    }

    public mutating func field(_ name: String, _ item: (some JSONWritable)?) {
        key(name)
        if let item { item.write(to: &self) } else { null() }
    }

    public mutating func value(_ uuid: UUID128) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        uuid.appendText(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func field(_ name: String, _ uuid: UUID128?) {
        key(name)
        if let uuid { value(uuid) } else { null() }
    }

    @inlinable
    public mutating func field<Entity>(_ name: String, _ id: ID<Entity>?) { field(name, id?.uuid) }

    private mutating func appendQuoted(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (every key, most values) need no escaping: copy them in one go.
        let plain =
            string.utf8.withContiguousStorageIfAvailable { buffer in
                buffer.allSatisfy { $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
            } ?? false
        if plain {
            bytes.append(contentsOf: string.utf8)
        } else {
            for byte in string.utf8 { appendEscaped(byte) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        let shortForm: UInt8? =
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): byte
            case UInt8(ascii: "\n"): UInt8(ascii: "n")
            case UInt8(ascii: "\r"): UInt8(ascii: "r")
            case UInt8(ascii: "\t"): UInt8(ascii: "t")
            default: nil
            }
        if let shortForm {
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(shortForm)
        } else if byte < 0x20 {
            bytes.append(contentsOf: "\\u00".utf8)
            bytes.append(hexDigit(byte >> 4))
            bytes.append(hexDigit(byte & 0xF))
        } else {
            bytes.append(byte)
        }
    }
}

extension JSONWritable {
    /// The value as a standalone JSON document.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }

    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }
}

extension Array: JSONWritable where Element: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.beginArray()
        for element in self { element.write(to: &json) }
        json.endArray()
    }
}
