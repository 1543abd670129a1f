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
        Key(key).authenticate(Array(message))
    }

    /// The code as 64 lower-case hex digits.
    public static func hex(_ message: some Collection<UInt8>, key: some Collection<UInt8>) -> String {
        hexString(authenticate(message, key: key))
    }

    /// One key set up once (its padded blocks hashed) for any number of messages: a
    /// webhook sender signs every delivery to an endpoint under the same secret, and the
    /// one-shot `HMAC()` looks the digest up and sets the key up again each time (measured:
    /// 1.96 µs a signature of 420 bytes, 0.53 µs with the key kept). Not for two threads
    /// at once: each message restarts the one context.
    public final class Key {
        private let context: OpaquePointer

        public init(_ key: some Collection<UInt8>) {
            context = HMAC_CTX_new()
            // libcrypto takes an empty key as a real address and a length of 0, never NULL.
            let bytes = key.isEmpty ? [0] : Array(key)
            bytes.withUnsafeBufferPointer {
                _ = HMAC_Init_ex(context, $0.baseAddress, Int32(key.count), EVP_sha256(), nil)
            }
        }

        deinit { HMAC_CTX_free(context) }

        /// The code of the parts' concatenation, read in place.
        public func authenticate(_ parts: [UInt8]...) -> [UInt8] {
            // Back to the key's initial state, keeping the key and the digest.
            _ = HMAC_Init_ex(context, nil, 0, nil, nil)
            for part in parts { part.withUnsafeBufferPointer { _ = HMAC_Update(context, $0.baseAddress, $0.count) } }
            var code = [UInt8](repeating: 0, count: SHA256.digestLength)
            var length: UInt32 = 0
            code.withUnsafeMutableBufferPointer { _ = HMAC_Final(context, $0.baseAddress, &length) }
            return code
        }
    }
}
