import Common

/// `Billing-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]` — Stripe's scheme: `v1` is
/// HMAC-SHA256 of `"<t>.<body>"` under the whole `whsec_…` secret as UTF-8 bytes, lower-case
/// hex, one for each secret in use (two during a rotation).
///
/// Keeps each secret's key set up (one sender signs every delivery to an endpoint under
/// the same secret); one thread's.
public struct WebhookSignature {
    private var keys: [String: HMACSHA256.Key] = [:]
    /// Rotations retire secrets; past this many, the keys are set up again as they come.
    private static let keptKeys = 1_024

    public init() {}

    public mutating func header(body: [UInt8], secrets: [String], at time: Timestamp) -> String {
        let seconds = String(time.epochSeconds)
        let prefix = Array((seconds + ".").utf8)
        var header = "t=" + seconds
        for secret in secrets {
            header += ",v1=" + hexString(key(for: secret).authenticate(prefix, body))
        }
        return header
    }

    private mutating func key(for secret: String) -> HMACSHA256.Key {
        if let key = keys[secret] { return key }
        if keys.count >= Self.keptKeys { keys.removeAll(keepingCapacity: true) }
        let key = HMACSHA256.Key(Array(secret.utf8))
        keys[secret] = key
        return key
    }
}
