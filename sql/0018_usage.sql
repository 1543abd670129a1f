-- usage.md: meters, usage events counted exactly once, running totals kept as events
-- arrive, charges on plans and usage billed in arrears. Every key and index of the events
-- is led by customer_id, so that the tables can be distributed by customer (Citus)
-- unchanged; the raw events are partitioned by time.

CREATE TABLE meters (
    id              uuid PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    code            text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9_.-]{1,100}$'),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    aggregation     text NOT NULL CHECK (aggregation IN ('count', 'sum', 'max', 'unique_count', 'latest')),
    value_property  text CHECK (char_length(value_property) BETWEEN 1 AND 100),
    unique_property text CHECK (char_length(unique_property) BETWEEN 1 AND 100),
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK ((aggregation IN ('sum', 'max', 'latest')) = (value_property IS NOT NULL)),
    CHECK ((aggregation = 'unique_count') = (unique_property IS NOT NULL))
);

-- A plan's charges, immutable like its price: the JSON the API shows, and the meters they
-- charge (which events count for a subscription on the plan).
ALTER TABLE plans ADD COLUMN charges text NOT NULL DEFAULT '[]',
    ADD COLUMN charged_meter_ids uuid[] NOT NULL DEFAULT '{}' CHECK (cardinality(charged_meter_ids) <= 10);

-- The client's event ids, unique per customer forever: the key that decides, under any
-- number of concurrent requests, that a retried event is stored once (ON CONFLICT DO NOTHING
-- waits for the transaction that inserted the same key, then skips it).
CREATE TABLE usage_event_ids (
    customer_id uuid NOT NULL,
    id          text NOT NULL CHECK (char_length(id) BETWEEN 1 AND 255),
    PRIMARY KEY (customer_id, id)
);

-- The raw events, by month of their timestamp. A unique key of a partitioned table must
-- hold the partition key, so the ids' uniqueness forever is the table above. No foreign
-- keys: customers and meters are never deleted, the service checks both, and a check per
-- row would cost what the whole insert costs.
CREATE SEQUENCE usage_event_arrival;
CREATE TABLE usage_events (
    customer_id  uuid NOT NULL,
    id           text NOT NULL,
    meter_id     uuid NOT NULL,
    "timestamp"  timestamptz NOT NULL,
    properties   text NOT NULL, -- the JSON object as received (its keys and string values)
    value        numeric,
    received_at  timestamptz NOT NULL,
    -- The window it counted in (none: billed by nothing), so that the running totals can
    -- always be checked against, or rebuilt from, the events.
    subscription_id uuid,
    window_start timestamptz,
    arrival      bigint NOT NULL DEFAULT nextval('usage_event_arrival')
) PARTITION BY RANGE ("timestamp");
CREATE INDEX usage_events_customer_meter_time ON usage_events (customer_id, meter_id, "timestamp");
CREATE INDEX usage_events_customer_arrival ON usage_events (customer_id, arrival);
-- Times no monthly partition covers (test clocks anywhere in the century). A partition
-- made later takes its rows out of it first.
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;

-- Creates the monthly partitions from `from_month` to `to_month` that do not exist yet,
-- moving any rows of their months out of the default partition. Runs with the owner's
-- rights: the service's role may call it but changes no schema otherwise.
CREATE FUNCTION ensure_usage_event_partitions(from_month timestamptz, to_month timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    month timestamptz := date_trunc('month', from_month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    next_month timestamptz;
    name text;
    made integer := 0;
BEGIN
    WHILE month <= to_month LOOP
        next_month := (month AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
        name := 'usage_events_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('usage_event_partitions'));
            IF to_regclass(name) IS NULL THEN
                EXECUTE format('CREATE TABLE %I (LIKE usage_events INCLUDING DEFAULTS)', name);
                EXECUTE format('WITH moved AS (DELETE FROM usage_events_default WHERE "timestamp" >= $1 '
                    'AND "timestamp" < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved', name)
                    USING month, next_month;
                EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                    name, month, next_month);
                made := made + 1;
            END IF;
        END IF;
        month := next_month;
    END LOOP;
    RETURN made;
END;
$$;
SELECT ensure_usage_event_partitions(now() - interval '2 months', now() + interval '2 months');

-- What the service bills is counted as events arrive, per subscription, usage window and
-- meter: reading current usage or billing a window is a point read, never a scan of events.
CREATE TABLE usage_totals (
    customer_id     uuid NOT NULL,
    subscription_id uuid NOT NULL,
    window_start    timestamptz NOT NULL,
    meter_id        uuid NOT NULL,
    event_count     bigint NOT NULL DEFAULT 0,
    value_sum       numeric NOT NULL DEFAULT 0,
    value_max       numeric,
    latest_value    numeric,
    latest_at       timestamptz,
    latest_arrival  bigint,
    unique_count    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, subscription_id, window_start, meter_id)
);
-- The distinct values a `unique_count` meter has seen in a window.
CREATE TABLE usage_unique_values (
    customer_id     uuid NOT NULL,
    subscription_id uuid NOT NULL,
    window_start    timestamptz NOT NULL,
    meter_id        uuid NOT NULL,
    value           text NOT NULL,
    PRIMARY KEY (customer_id, subscription_id, window_start, meter_id, value)
);

-- A subscription counts usage from `usage_window_start` (its current period's start when
-- null; a plan change starts counting afresh). A window that closed waits in
-- usage_windows for its draft invoice's grace to pass, then the billing run prices it.
ALTER TABLE subscriptions ADD COLUMN usage_window_start timestamptz;
CREATE TABLE usage_windows (
    customer_id     uuid NOT NULL REFERENCES customers (id),
    subscription_id uuid NOT NULL REFERENCES subscriptions (id),
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    plan_id         uuid NOT NULL REFERENCES plans (id),
    invoice_id      uuid NOT NULL REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    closes_at       timestamptz NOT NULL,
    billed_at       timestamptz,
    PRIMARY KEY (customer_id, subscription_id, window_start),
    CHECK (window_end > window_start)
);
CREATE INDEX usage_windows_closing ON usage_windows (closes_at) WHERE billed_at IS NULL;
CREATE INDEX usage_windows_invoice ON usage_windows (invoice_id);

-- Usage lines: the meter and the exact quantity they price.
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_kind_check,
    ADD CONSTRAINT invoice_lines_kind_check CHECK (kind IN ('subscription', 'proration', 'trial', 'item', 'usage')),
    ADD COLUMN meter_id uuid REFERENCES meters (id),
    ADD COLUMN usage_quantity numeric,
    ADD CONSTRAINT invoice_lines_usage_meter CHECK ((kind = 'usage') = (meter_id IS NOT NULL)
        AND (kind = 'usage') = (usage_quantity IS NOT NULL));

-- A draft may change in every way, so the guard of settled invoices (sql/0008) is not run
-- for one at all: its function lets every change of a draft through, and the usage step
-- finalizes drafts by the hundred (measured: see README, Usage-based billing).
DROP TRIGGER invoices_settled_are_immutable ON invoices;
CREATE TRIGGER invoices_settled_are_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW WHEN (OLD.status <> 'draft') EXECUTE FUNCTION refuse_settled_invoice_change();

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
        'webhook_endpoint.disabled', 'meter.created', 'meter.updated'));

GRANT SELECT, INSERT, UPDATE ON meters, usage_windows TO billing_app;
GRANT SELECT, INSERT ON usage_event_ids, usage_events, usage_unique_values TO billing_app;
GRANT SELECT, INSERT, UPDATE ON usage_totals TO billing_app;
GRANT USAGE ON SEQUENCE usage_event_arrival TO billing_app;
GRANT EXECUTE ON FUNCTION ensure_usage_event_partitions(timestamptz, timestamptz) TO billing_app;
