import CCrypto

/// Base64 with padding (RFC 4648 §4), from libcrypto's base64: style hashes in a
/// Content-Security-Policy.
public enum Base64 {
    public static func encode(_ bytes: [UInt8]) -> String {
        String(decoding: encodedBytes(bytes), as: UTF8.self)
    }

    static func encodedBytes(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        var output = [UInt8](repeating: 0, count: (bytes.count + 2) / 3 * 4 + 1)
        let length = output.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { EVP_EncodeBlock(out.baseAddress, $0.baseAddress, Int32(bytes.count)) }
        }
        return output.prefix(Int(length))
    }
}

/// Base64url without padding (RFC 4648 §5): webhook secrets and page tokens.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        String(
            decoding: Base64.encodedBytes(bytes).compactMap { byte -> UInt8? in
                switch byte {
                case UInt8(ascii: "+"): UInt8(ascii: "-")
                case UInt8(ascii: "/"): UInt8(ascii: "_")
                case UInt8(ascii: "="): nil
                default: byte
                }
            }, as: UTF8.self)
    }
}
