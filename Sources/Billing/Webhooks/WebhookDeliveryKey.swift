import Common
import Postgres

/// What a delivery's id carries (sql/0026): its endpoint's `seq` and its event's `seq`, the
/// table's key. The id needs no index of its own, which every delivery written and every
/// outcome recorded went into: a delivery is found by this key through `(endpoint_id,
/// event_seq)`.
public struct WebhookDeliveryKey: Equatable, Sendable {
    public var endpointSeq: Int64
    public var eventSeq: Int64

    public init(endpointSeq: Int64, eventSeq: Int64) {
        self.endpointSeq = endpointSeq
        self.eventSeq = eventSeq
    }

    /// The key an id carries: a version 7 UUID whose 74 bits after the timestamp are the
    /// endpoint's seq (12 bits, then 18 after the variant) and the event's (the last 44).
    /// Nil for an id that is not a version 7 UUID: no delivery has it.
    public init?(_ id: ID<WebhookDelivery>) {
        let (high, low) = (id.uuid.high, id.uuid.low)
        guard (high >> 12) & 0xF == 7, low >> 62 == 0b10 else { return nil }
        endpointSeq = Int64((high & 0xFFF) << 18 | (low >> 44) & 0x3_FFFF)
        eventSeq = Int64(low & 0xFFF_FFFF_FFFF)
    }

    /// The condition that finds delivery `id` as `d`, through the key it carries; false for
    /// an id that carries none.
    static func locating(_ id: ID<WebhookDelivery>) -> SQLQuery {
        guard let key = WebhookDeliveryKey(id) else { return "false" }
        return """
            d.endpoint_id = (SELECT w.id FROM webhook_endpoints w WHERE w.seq = \(key.endpointSeq)) \
            AND d.event_seq = \(key.eventSeq) AND d.id = \(id)
            """
    }
}
