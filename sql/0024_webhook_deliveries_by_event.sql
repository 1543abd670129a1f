-- A delivery's place among its endpoint's is its event's: deliveries are listed by
-- `(endpoint_id, event_seq)`, and that pair is unique (an event's seq is unique, as its id
-- is), so one index serves both the list and "one delivery per event and endpoint". The
-- delivery's own `seq`, its index and the (endpoint_id, event_id) constraint are gone:
-- every delivery written and every outcome recorded (an update that cannot be HOT) wrote
-- an entry into each of those indexes (measured: index inserts were a third of the
-- sender's PostgreSQL time).
ALTER TABLE webhook_deliveries DROP COLUMN seq;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_endpoint_id_event_id_key;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_endpoint_event_seq_key
    UNIQUE (endpoint_id, event_seq);
