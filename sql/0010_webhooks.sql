-- webhooks.md: endpoints, and a delivery for every event each endpoint is enabled for. The
-- events table is the outbox; its deliveries are written by a trigger in the event's own
-- transaction, so that no code path that writes an event can forget them, and an endpoint
-- gets exactly the events written while it was enabled for their type.

CREATE TABLE webhook_endpoints (
    id                     uuid PRIMARY KEY,
    seq                    bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    url                    text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    enabled_events         text[] NOT NULL CHECK (cardinality(enabled_events) BETWEEN 1 AND 100),
    description            text CHECK (char_length(description) <= 500),
    -- Never in an answer but the ones that create or rotate it, never in an event or a log.
    secret                 text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    -- During a rotation deliveries carry a second signature with the old secret.
    previous_secret        text CHECK (previous_secret LIKE 'whsec\_%'),
    previous_secret_expires_at timestamptz,
    -- Disabled when set: requested by a PATCH, or failing (see failing_since).
    disabled_reason        text CHECK (disabled_reason IN ('requested', 'failing')),
    -- Since when every delivery has failed (null after a success): the endpoint is
    -- disabled once this is older than the configured span.
    failing_since          timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    deleted_at             timestamptz,
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
-- The endpoints the fan-out looks at: few, read by every statement that writes events.
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (id) WHERE disabled_reason IS NULL AND deleted_at IS NULL;

-- The service's ids are UUIDv7 (time-ordered); deliveries are made here, by the trigger:
-- 48 bits of Unix milliseconds over a random UUID, its version bits turned from 4 to 7.
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

CREATE TABLE webhook_deliveries (
    id                    uuid PRIMARY KEY DEFAULT uuid_v7(),
    seq                   bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    endpoint_id           uuid NOT NULL REFERENCES webhook_endpoints (id),
    event_id              uuid NOT NULL,
    event_seq             bigint NOT NULL,
    event_type            text NOT NULL,
    status                text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts              integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at       timestamptz,
    last_attempt_at       timestamptz,
    last_status_code      integer,
    last_error            text,
    last_response_excerpt text,
    -- A sender that claimed it owns it until then; one that died lets it go when it passes.
    leased_until          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    succeeded_at          timestamptz,
    UNIQUE (endpoint_id, event_id),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CHECK ((status = 'succeeded') = (succeeded_at IS NOT NULL))
);
-- What senders claim: each endpoint's pending deliveries by due time, in event order.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at, event_seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);

CREATE FUNCTION fan_out_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, event_type, next_attempt_at)
    SELECT w.id, e.id, e.seq, e.type, now()
    FROM written e JOIN webhook_endpoints w
        ON w.disabled_reason IS NULL AND w.deleted_at IS NULL AND w.enabled_events && ARRAY[e.type, '*']
    ORDER BY e.seq;
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_fan_out_to_webhook_endpoints AFTER INSERT ON events
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION fan_out_webhook_deliveries();

-- The events of webhooks.md, and every earlier one.
ALTER TABLE events DROP CONSTRAINT events_type_check,
    ADD CONSTRAINT events_type_check CHECK (type IN (
        'customer.created', 'customer.updated', 'plan.created', 'plan.updated',
        'subscription.created', 'subscription.updated', 'subscription.canceled', 'subscription.trial_ended',
        'invoice.created', 'invoice.updated', 'invoice.deleted', 'invoice.finalized', 'invoice.paid',
        'invoice.voided', 'invoice.marked_uncollectible',
        'invoice_item.created', 'invoice_item.updated', 'invoice_item.deleted', 'payment.created',
        'tax_rate.created', 'tax_rate.updated', 'coupon.created', 'coupon.updated',
        'credit_note.created', 'credit_note.voided',
        'webhook_endpoint.created', 'webhook_endpoint.updated', 'webhook_endpoint.deleted',
        'webhook_endpoint.disabled'));

GRANT SELECT, INSERT, UPDATE ON webhook_endpoints, webhook_deliveries TO billing_app;
