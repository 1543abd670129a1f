import Synchronization

/// 128 random bits as base64url (22 characters): the unguessable part of a hosted invoice
/// page's address. From the kernel's CSPRNG, read 4 KiB at a time (256 tokens a
/// `getrandom`: a billing run makes thousands, and a call each would cost a tenth of its time
/// as it did for ids). Not libcrypto's `RAND_bytes`: OpenSSL 3's provider and DRBG set-up
/// costs each process that calls it 2.5 MB of resident memory (measured), and workers keep
/// to 25 MB. Workers are started by exec, never forked, so no two processes share a buffer.
public enum SecretToken {
    public static let length = 22

    public static func make() -> String {
        Base64URL.encode(buffered.withLock { $0.next16() })
    }

    private static let buffered = Mutex(RandomBuffer())

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

/// Bytes from `getrandom`, handed out once each.
private struct RandomBuffer: ~Copyable {
    private var bytes = [UInt8](repeating: 0, count: 4096)
    private var used = 4096

    mutating func next16() -> [UInt8] {
        if used == bytes.count {
            bytes.withUnsafeMutableBytes { UUID128.fillRandom($0) }
            used = 0
        }
        defer { used += 16 }
        return Array(bytes[used..<used + 16])
    }
}
