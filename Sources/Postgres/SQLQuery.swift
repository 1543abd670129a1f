import Common

/// A value that can be sent as a statement parameter in PostgreSQL's text format.
public protocol SQLBindable {
    /// The parameter's text, or nil for SQL NULL.
    var sqlText: String? { get }

    /// Appends the value as one element of an array literal: quoted and escaped, or NULL.
    func appendArrayElement(to literal: inout [UInt8])
}

extension SQLBindable {
    public func appendArrayElement(to literal: inout [UInt8]) { SQLArray.appendElement(sqlText, to: &literal) }
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

    /// Appends another statement, its placeholders renumbered after this one's: statements
    /// built in parts. `other`'s text may use `$` followed by digits only in placeholders (no
    /// dollar quoting).
    public mutating func append(_ other: SQLQuery) {
        let offset = binds.count
        binds += other.binds
        guard offset > 0, other.sql.contains("$") else {
            sql += other.sql
            return
        }
        var digits = ""
        var inPlaceholder = false
        func flush() {
            if inPlaceholder { sql += digits.isEmpty ? "$" : "$\((Int(digits) ?? 0) + offset)" }
            inPlaceholder = false
            digits = ""
        }
        for character in other.sql {
            if inPlaceholder, character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            flush()
            if character == "$" { inPlaceholder = true } else { sql.append(character) }
        }
        flush()
    }

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
            // Room for a spliced column list too: one allocation for most statements.
            sql.reserveCapacity(literalCapacity + interpolationCount * 3 + 128)
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

        /// A statement built elsewhere, its placeholders renumbered after these (`append`).
        public mutating func appendInterpolation(query other: SQLQuery) {
            var combined = SQLQuery(unsafeSQL: sql, binds: binds)
            combined.append(other)
            sql = combined.sql
            binds = combined.binds
        }
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

// Ids and timestamps never need escaping: their text goes into an array literal directly.

extension Timestamp: SQLBindable {
    public var sqlText: String? { description }

    public func appendArrayElement(to literal: inout [UInt8]) { appendRFC3339(to: &literal) }
}

extension UUID128: SQLBindable {
    public var sqlText: String? { description }

    public func appendArrayElement(to literal: inout [UInt8]) { appendText(to: &literal) }
}

extension ID: SQLBindable {
    public var sqlText: String? { uuid.description }

    public func appendArrayElement(to literal: inout [UInt8]) { uuid.appendText(to: &literal) }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlText: String? { self?.sqlText }

    public func appendArrayElement(to literal: inout [UInt8]) {
        if let self { self.appendArrayElement(to: &literal) } else { literal.append(contentsOf: "NULL".utf8) }
    }
}

/// Bytes sent as a `bytea` parameter (hex format).
public struct SQLBytes: SQLBindable, Sendable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var sqlText: String? {
        String(unsafeUninitializedCapacity: 2 + 2 * bytes.count) { out in
            out[0] = UInt8(ascii: "\\")
            out[1] = UInt8(ascii: "x")
            for (index, byte) in bytes.enumerated() {
                out[2 + 2 * index] = hexDigit(byte >> 4)
                out[3 + 2 * index] = hexDigit(byte & 0xF)
            }
            return 2 + 2 * bytes.count
        }
    }
}

/// An array of values sent as one PostgreSQL array literal (`{"a","b",NULL}`), for
/// `= ANY($1)` and for bulk `INSERT … SELECT * FROM unnest($1::uuid[], …)`. Built byte by
/// byte when it is made: for a batch of thousands of values this is the hot path.
public struct SQLArray: SQLBindable, Sendable {
    public let sqlText: String?

    @inlinable
    public init<Element: SQLBindable>(_ elements: [Element]) { self.init(elements) { $0 } }

    /// One element per item, `element` picking the value (`SQLArray(invoices) { $0.id }`).
    /// Inlinable, so that it is specialized where it is called: generic, it looked up the
    /// items' type metadata at run time (3% of the billing run's CPU).
    @inlinable
    public init<Items: Collection, Element: SQLBindable>(_ items: Items, _ element: (Items.Element) -> Element) {
        var literal: [UInt8] = [UInt8(ascii: "{")]
        literal.reserveCapacity(2 + items.count * 40)
        for (index, item) in items.enumerated() {
            if index > 0 { literal.append(UInt8(ascii: ",")) }
            element(item).appendArrayElement(to: &literal)
        }
        literal.append(UInt8(ascii: "}"))
        sqlText = String(decoding: literal, as: UTF8.self)
    }

    /// Appends one element's text, double-quoted with `"` and `\` escaped, or NULL.
    public static func appendElement(_ text: String?, to literal: inout [UInt8]) {
        guard var text else {
            literal.append(contentsOf: "NULL".utf8)
            return
        }
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        literal.append(quote)
        text.withUTF8 { utf8 in
            if !utf8.contains(where: { $0 == quote || $0 == backslash }) {
                literal.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                if byte == quote || byte == backslash { literal.append(backslash) }
                literal.append(byte)
            }
        }
        literal.append(quote)
    }
}
