import CCrypto

/// 128 random bits as base64url (22 characters): the unguessable part of a hosted invoice
/// page's address. From libcrypto's DRBG, seeded by the kernel: a billing run makes
/// thousands, and a `getrandom` each would cost a system call apiece.
public enum SecretToken {
    public static let length = 22

    public static func make() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, 16) }
        precondition(status == 1, "RAND_bytes failed")
        return Base64URL.encode(bytes)
    }

    /// Whether `text` could be a token at all (22 base64url characters); anything else is
    /// looked up as a token that matches nothing, so both answer in the same time.
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        text.utf8.count == length
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                default: false
                }
            }
    }
}
