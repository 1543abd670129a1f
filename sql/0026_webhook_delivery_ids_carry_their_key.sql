-- A delivery's id carries its key, so it needs no index of its own. Every delivery the
-- fan-out writes went into three indexes, and every outcome a sender records (an update
-- that cannot be HOT) into two; the one on `id` served only lookups by id. Measured with
-- `SENDER=0 bench/webhooks` (what writing the deliveries costs POST /subscriptions, most of
-- it while the global invoice counter is held): 0.86 with it, 0.92 and 0.98 (two runs)
-- without.
--
-- The id is still a version 7 UUID (RFC 9562): its 48-bit timestamp is the milliseconds of
-- the event's transaction, and its other 74 bits are the endpoint's `seq` (30 bits: 12, then
-- 18 after the variant) and the event's `seq` (44 bits, the last 11 hex digits). The pair
-- is unique (`webhook_deliveries_endpoint_event_seq_key`, the table's key), so the id is.
-- The service decodes an id (`WebhookDeliveryKey`) and finds the row through that key; an
-- id that is not one of these finds nothing. The ranges are 2^30 endpoints created and
-- 2^44 events written (17.6 trillion: 557 years at 1,000 a second).
CREATE FUNCTION webhook_delivery_id(endpoint_seq bigint, event_seq bigint) RETURNS uuid LANGUAGE sql STABLE
RETURN (lpad(to_hex((floor(extract(epoch FROM now()) * 1000)::bigint << 16) | 28672 | ((endpoint_seq >> 18) & 4095)), 16, '0')
    || lpad(to_hex(x'8000000000000000'::bigint | ((endpoint_seq & 262143) << 44) | (event_seq & 17592186044415)), 16, '0')
    )::uuid;

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_pkey;
ALTER TABLE webhook_deliveries ALTER id DROP DEFAULT;
-- Deliveries written before this get ids of the new form (their old ids are no longer found).
UPDATE webhook_deliveries d SET id = webhook_delivery_id(w.seq, d.event_seq) FROM webhook_endpoints w
WHERE w.id = d.endpoint_id;

CREATE OR REPLACE FUNCTION fan_out_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_seq, event_type, next_attempt_at)
    SELECT webhook_delivery_id(w.seq, e.seq), w.id, e.id, e.seq, e.type, now()
    FROM written e JOIN webhook_endpoints w
        ON w.disabled_reason IS NULL AND w.deleted_at IS NULL AND w.enabled_events && ARRAY[e.type, '*']
    ORDER BY e.seq;
    RETURN NULL;
END;
$$;
