import CCrypto

/// SHA-256 (FIPS 180-4) from OpenSSL's libcrypto: API key secrets are stored as it, idempotent
/// request bodies and migrations are fingerprinted with it. Tested against the standard vectors.
///
/// Through libcrypto's direct `SHA256_Init/Update/Final`, not the one-shot `SHA256()` or EVP:
/// those fetch the algorithm from OpenSSL 3's default provider, whose set-up costs every
/// process 2.3 MB of resident memory (measured) for the one digest a worker needs per request.
public enum SHA256 {
    public static let digestLength = Int(SHA256_DIGEST_LENGTH)

    /// The 32-byte digest of `message`, read in place when it is contiguous (an array: the
    /// idempotency fingerprint of every keyed request body).
    public static func hash(_ message: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: digestLength)
        func digestOf(_ input: UnsafeBufferPointer<UInt8>) {
            var context = SHA256_CTX()
            SHA256_Init(&context)
            SHA256_Update(&context, input.baseAddress, input.count)
            digest.withUnsafeMutableBufferPointer { _ = SHA256_Final($0.baseAddress, &context) }
        }
        if message.withContiguousStorageIfAvailable(digestOf) == nil {
            Array(message).withUnsafeBufferPointer(digestOf)
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
        // libcrypto takes an empty key as a real address and a length of 0, never NULL.
        let keyBytes = key.isEmpty ? [0] : Array(key)
        let messageBytes = Array(message)
        keyBytes.withUnsafeBufferPointer { keyBuffer in
            messageBytes.withUnsafeBufferPointer { input in
                code.withUnsafeMutableBufferPointer { output in
                    _ = HMAC(
                        EVP_sha256(), keyBuffer.baseAddress, Int32(key.count), input.baseAddress, input.count,
                        output.baseAddress, &length)
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
