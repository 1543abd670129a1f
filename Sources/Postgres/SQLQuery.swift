import Common

/// A value that can be sent as a statement parameter in PostgreSQL's text format.
public protocol SQLBindable {
    /// The parameter's text, or nil for SQL NULL.
    var sqlText: String? { get }
}

/// A statement whose interpolated values become `$n` parameters, never SQL text:
/// `"SELECT … WHERE id = \(id)"` sends `… WHERE id = $1` with `id` bound. Text that must
/// be spliced into the statement needs the explicit `unsafeSQL:` label.
public struct SQLQuery: ExpressibleByStringInterpolation, Sendable {
    public private(set) var sql: String
    public private(set) var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// Appends statement text; use only with literals, never with input.
    public mutating func append(unsafeSQL text: String) { sql += text }

    /// Appends a parameter placeholder bound to `value`.
    public mutating func append(bind value: some SQLBindable) { append(bindText: value.sqlText) }

    /// Appends a parameter placeholder bound to already-rendered parameter text.
    public mutating func append(bindText text: String?) {
        binds.append(text)
        sql += "$\(binds.count)"
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some SQLBindable) {
            binds.append(value.sqlText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: (some SQLBindable)?) {
            binds.append(value?.sqlText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(unsafeSQL text: String) { sql += text }
    }
}

extension String: SQLBindable {
    public var sqlText: String? { self }
}

extension Int: SQLBindable {
    public var sqlText: String? { String(self) }
}

extension Int64: SQLBindable {
    public var sqlText: String? { String(self) }
}

extension Bool: SQLBindable {
    public var sqlText: String? { self ? "t" : "f" }
}

extension Timestamp: SQLBindable {
    public var sqlText: String? { description }
}

extension UUID128: SQLBindable {
    public var sqlText: String? { description }
}

extension ID: SQLBindable {
    public var sqlText: String? { uuid.description }
}

/// Bytes sent as a `bytea` parameter (hex format).
public struct SQLBytes: SQLBindable, Sendable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var sqlText: String? {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// An array of values sent as one PostgreSQL array literal (`{"a","b",NULL}`), for
/// `= ANY($1)` and for bulk `INSERT … SELECT * FROM unnest($1::uuid[], …)`.
public struct SQLArray: SQLBindable, Sendable {
    public var texts: [String?]

    public init<Element: SQLBindable>(_ elements: [Element]) { texts = elements.map { $0.sqlText } }

    public init<Element: SQLBindable>(_ elements: [Element?]) { texts = elements.map { $0?.sqlText } }

    /// Built byte by byte: for a batch of thousands of values this is the hot path.
    public var sqlText: String? {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(texts.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in texts.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let value = element else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
