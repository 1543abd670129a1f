import CCrypto

/// SHA-256 (FIPS 180-4) from OpenSSL's libcrypto: API key secrets are stored as it, idempotent
/// request bodies and migrations are fingerprinted with it. Tested against the standard vectors.
public enum SHA256 {
    public static let digestLength = Int(SHA256_DIGEST_LENGTH)

    /// The 32-byte digest of `message`.
    public static func hash(_ message: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: digestLength)
        let bytes = Array(message)
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = CCrypto.SHA256(input.baseAddress, input.count, output.baseAddress)
            }
        }
        return digest
    }

    /// The digest as 64 lower-case hex digits.
    public static func hex(_ message: some Collection<UInt8>) -> String { hexString(hash(message)) }
}

/// HMAC-SHA256 (RFC 2104) from libcrypto: webhook signatures. Tested against RFC 4231.
public enum HMACSHA256 {
    /// The 32-byte authentication code of `message` under `key`.
    public static func authenticate(_ message: some Collection<UInt8>, key: some Collection<UInt8>) -> [UInt8] {
        var code = [UInt8](repeating: 0, count: SHA256.digestLength)
        var length: UInt32 = 0
        let keyBytes = Array(key)
        let messageBytes = Array(message)
        keyBytes.withUnsafeBufferPointer { keyBuffer in
            messageBytes.withUnsafeBufferPointer { input in
                code.withUnsafeMutableBufferPointer { output in
                    // A key or message of length 0 may have no address; libcrypto takes any pointer then.
                    _ = HMAC(
                        EVP_sha256(), keyBuffer.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(keyBuffer.count),
                        input.baseAddress, input.count, output.baseAddress, &length)
                }
            }
        }
        return code
    }

    /// The code as 64 lower-case hex digits.
    public static func hex(_ message: some Collection<UInt8>, key: some Collection<UInt8>) -> String {
        hexString(authenticate(message, key: key))
    }
}
