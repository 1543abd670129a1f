/// Hexadecimal digits, written and read in one place for ids, digests, bytea and secrets.

/// The lowercase hexadecimal digit of a value below 16 (a computation, not a table: a
/// static table costs a lazy-initialisation check on every access).
@inlinable @inline(__always)
public func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
}

/// The value of a hexadecimal digit in either case; nil for any other byte.
@inlinable
public func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Bytes from pairs of hexadecimal digits; nil for an odd count or any other character.
public func bytes(fromHex text: some StringProtocol) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var result: [UInt8] = []
    result.reserveCapacity(digits.count / 2)
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
        result.append(high << 4 | low)
    }
    return result
}

/// Bytes as lower-case hex digits.
public func hexString(_ bytes: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(hexDigit(byte >> 4))
        out.append(hexDigit(byte & 0xF))
    }
    return String(decoding: out, as: UTF8.self)
}
