import Common

/// `Billing-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]` — Stripe's scheme: `v1` is
/// HMAC-SHA256 of `"<t>.<body>"` under the whole `whsec_…` secret as UTF-8 bytes, lower-case
/// hex, one for each secret in use (two during a rotation).
public enum WebhookSignature {
    public static func header(body: [UInt8], secrets: [String], at time: Timestamp) -> String {
        let seconds = String(time.epochSeconds)
        let signed = Array((seconds + ".").utf8) + body
        let signatures = secrets.map { "v1=" + hexString(HMACSHA256.authenticate(signed, key: Array($0.utf8))) }
        return (["t=" + seconds] + signatures).joined(separator: ",")
    }
}
