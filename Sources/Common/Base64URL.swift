import CCrypto

/// Base64url without padding (RFC 4648 §5), from libcrypto's base64: webhook secrets.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        var output = [UInt8](repeating: 0, count: (bytes.count + 2) / 3 * 4 + 1)
        let length = output.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { EVP_EncodeBlock(out.baseAddress, $0.baseAddress, Int32(bytes.count)) }
        }
        return String(
            decoding: output.prefix(Int(length)).compactMap { byte -> UInt8? in
                switch byte {
                case UInt8(ascii: "+"): UInt8(ascii: "-")
                case UInt8(ascii: "/"): UInt8(ascii: "_")
                case UInt8(ascii: "="): nil
                default: byte
                }
            }, as: UTF8.self)
    }
}
