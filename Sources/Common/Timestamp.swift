#if canImport(Glibc)
    import Glibc
#endif

/// An instant with whole-second precision, as the API exchanges them: RFC 3339 in UTC
/// with a `Z` (`2026-01-31T10:00:00Z`).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var epochSeconds: Int64

    public init(epochSeconds: Int64) {
        self.epochSeconds = epochSeconds
    }

    /// The current wall-clock time, truncated to whole seconds.
    public static func now() -> Timestamp { Timestamp(epochSeconds: Clock.wallSeconds()) }

    /// Earliest and latest instants the service accepts: years 1970 through 9999.
    public static let minimum = Timestamp(epochSeconds: 0)
    public static let maximum = Timestamp(epochSeconds: 253_402_300_799)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.epochSeconds < rhs.epochSeconds }

    public func adding(seconds: Int64) -> Timestamp { Timestamp(epochSeconds: epochSeconds + seconds) }

    public var civil: CivilDateTime { CivilDateTime(epochSeconds: epochSeconds) }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    public var description: String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(20)
        appendRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the RFC 3339 form without building an intermediate String: the 20 bytes are
    /// composed on the stack and appended at once (lists write thousands of timestamps).
    public func appendRFC3339(to bytes: inout [UInt8]) {
        let c = civil
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { text in
            // `value` in `count` digits ending before `offset`, then `separator` at `offset`.
            func put(_ value: Int, digits count: Int, before offset: Int, _ separator: Unicode.Scalar) {
                var rest = value
                for index in (offset - count..<offset).reversed() {
                    text[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                text[offset] = UInt8(ascii: separator)
            }
            put(c.year, digits: 4, before: 4, "-")
            put(c.month, digits: 2, before: 7, "-")
            put(c.day, digits: 2, before: 10, "T")
            put(c.hour, digits: 2, before: 13, ":")
            put(c.minute, digits: 2, before: 16, ":")
            put(c.second, digits: 2, before: 19, "Z")
            bytes.append(contentsOf: UnsafeBufferPointer(text))
        }
    }

    /// Parses RFC 3339's `date-time` exactly: `2026-01-31T10:00:00Z`, `…+02:00`, `t` and
    /// `z` in lower case, fractional seconds (dropped). A leap second (`23:59:60Z`, or
    /// second 60 of any minute 59 with an offset) is the next second, as POSIX time has no
    /// leap seconds. Returns nil for anything else: a space for `T`, offsets without the
    /// colon (`+0530`) or the minutes (`+05`), impossible dates such as February 30.
    public init?(parsing text: some StringProtocol) {
        var string = String(text)
        guard let parsed = string.withUTF8({ Timestamp(bytes: $0, form: .rfc3339) }) else { return nil }
        self = parsed
    }

    /// Parses PostgreSQL's ISO output of a `timestamptz` (`2026-01-31 10:00:00+00`) from
    /// UTF-8 bytes: a database column, without a String.
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        self.init(bytes: bytes, form: .postgres)
    }

    private enum Form { case rfc3339, postgres }

    private init?(bytes: UnsafeBufferPointer<UInt8>, form: Form) {
        var reader = DigitReader(bytes)
        guard let year = reader.number(4), reader.skip("-"),
            let month = reader.number(2), reader.skip("-"),
            let day = reader.number(2), form == .rfc3339 ? reader.skip(anyOf: "Tt") : reader.skip(anyOf: "T "),
            let hour = reader.number(2), reader.skip(":"),
            let minute = reader.number(2), reader.skip(":"),
            var second = reader.number(2)
        else { return nil }
        if reader.skip(".") {
            guard reader.skipDigits() else { return nil }
        }
        var offset = 0
        if form == .rfc3339, reader.skip(anyOf: "Zz") {
            offset = 0
        } else if let sign = reader.sign() {
            guard let offsetHours = reader.number(2), offsetHours < 24 else { return nil }
            var offsetMinutes = 0
            // RFC 3339's time-numoffset is always `±hh:mm`; PostgreSQL leaves `:mm` out when 0.
            if reader.skip(":") {
                guard let minutes = reader.number(2) else { return nil }
                offsetMinutes = minutes
            } else if form == .rfc3339 {
                return nil
            }
            guard offsetMinutes < 60 else { return nil }
            offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            return nil
        }
        guard reader.atEnd else { return nil }
        // A leap second is the 60th second of the last minute of a UTC hour (23:59:60Z, or
        // 05:29:60+05:30); read as :59, it is then moved on by one second.
        let leapSecond = second == 60 && form == .rfc3339
        if leapSecond { second = 59 }
        let civil = CivilDateTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard civil.isValid else { return nil }
        let utc = civil.epochSeconds - Int64(offset)
        guard !leapSecond || (utc / 60) % 60 == 59 else { return nil }
        self.init(epochSeconds: leapSecond ? utc + 1 : utc)
    }
}

/// A cursor over ASCII bytes for the fixed-width formats above.
private struct DigitReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func number(_ width: Int) -> Int? {
        guard index + width <= bytes.count else { return nil }
        var value = 0
        for position in index..<index + width {
            let byte = bytes[position]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        index += width
        return value
    }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    mutating func skip(anyOf characters: StaticString) -> Bool {
        guard index < bytes.count else { return false }
        let byte = bytes[index]
        let found = characters.withUTF8Buffer { $0.contains(byte) }
        guard found else { return false }
        index += 1
        return true
    }

    mutating func skipDigits() -> Bool {
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            index += 1
        }
        return index > start
    }

    mutating func sign() -> Int? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        return nil
    }
}
