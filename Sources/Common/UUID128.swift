import CShim

#if canImport(Glibc)
    import Glibc
#endif

/// A 128-bit UUID in its canonical lowercase text form. New ids are version 7
/// (RFC 9562): a millisecond timestamp followed by random bits, so that ids created
/// later sort later and B-tree inserts stay local.
public struct UUID128: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static func < (lhs: UUID128, rhs: UUID128) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// A new version 7 UUID.
    public static func v7() -> UUID128 {
        var random: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &random) { fillRandom($0) }
        return v7(millis: nowMillis, random.0, random.1)
    }

    /// `count` new version 7 UUIDs, their random bits read from the kernel at once (a billing
    /// run makes thousands; one `getrandom` each was a tenth of its time).
    public static func v7(count: Int) -> [UUID128] {
        let millis = nowMillis
        var random = [UInt64](repeating: 0, count: 2 * count)
        random.withUnsafeMutableBytes { fillRandom($0) }
        return (0..<count).map { v7(millis: millis, random[2 * $0], random[2 * $0 + 1]) }
    }

    private static func v7(millis: UInt64, _ randomA: UInt64, _ randomB: UInt64) -> UUID128 {
        UUID128(
            high: (millis & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | (randomA & 0x0FFF),
            low: 0x8000_0000_0000_0000 | (randomB & 0x3FFF_FFFF_FFFF_FFFF))
    }

    private static var nowMillis: UInt64 { UInt64(max(0, Clock.wallMillis())) }

    /// Fills `buffer` from the kernel's CSPRNG (`getrandom`); also the page tokens' source.
    static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        let status = CShim_randomBytes(buffer.baseAddress, UInt(buffer.count))
        // Only with a kernel older than 3.17 or a seccomp filter forbidding it: nothing to fall back to.
        precondition(status == 0, "getrandom failed: \(-status)")
    }

    /// Parses the canonical 8-4-4-4-12 hexadecimal form (either case); nil otherwise.
    public init?(parsing text: some StringProtocol) {
        var string = String(text)
        guard let parsed = string.withUTF8({ UUID128(utf8: $0) }) else { return nil }
        self = parsed
    }

    /// Parses the canonical form from UTF-8 bytes (a database column, without a String).
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var nibbles = 0
        for position in 0..<36 {
            let byte = bytes[position]
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard let value = hexValue(byte) else { return nil }
            let nibble = UInt64(value)
            if nibbles < 16 { high = high << 4 | nibble } else { low = low << 4 | nibble }
            nibbles += 1
        }
        self.init(high: high, low: low)
    }

    public var description: String {
        var bytes = [UInt8]()
        appendText(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the 36-character canonical form without an intermediate String (JSON
    /// responses write many ids), composed on the stack and appended at once.
    public func appendText(to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { text in
            var position = 0
            for index in 0..<32 {
                if index == 8 || index == 12 || index == 16 || index == 20 {
                    text[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = index < 16 ? high : low
                text[position] = hexDigit(UInt8(truncatingIfNeeded: word >> UInt64(60 - (index % 16) * 4)) & 0xF)
                position += 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(text))
        }
    }
}

/// An id that names what it identifies, so that a plan id can never be passed where a
/// customer id is expected.
public struct ID<Entity>: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var uuid: UUID128

    public init(_ uuid: UUID128) { self.uuid = uuid }

    public init?(parsing text: some StringProtocol) {
        guard let uuid = UUID128(parsing: text) else { return nil }
        self.uuid = uuid
    }

    public static func generate() -> ID { ID(UUID128.v7()) }

    public static func generate(count: Int) -> [ID] { UUID128.v7(count: count).map(ID.init) }

    public static func < (lhs: ID, rhs: ID) -> Bool { lhs.uuid < rhs.uuid }

    public var description: String { uuid.description }
}
