-- The whole data model of API.md. Rules that must hold when requests race are
-- constraints here, not application checks.

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    prefix      text NOT NULL,
    secret_hash bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE customers (
    id            uuid PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    email         text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    metadata      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    currency      char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    balance_cents bigint NOT NULL DEFAULT 0 CHECK (balance_cents BETWEEN -1000000000000000 AND 1000000000000000),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));

CREATE TABLE plans (
    id             uuid PRIMARY KEY,
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    code           text NOT NULL UNIQUE CHECK (char_length(code) BETWEEN 1 AND 100),
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    amount_cents   bigint NOT NULL CHECK (amount_cents BETWEEN 0 AND 1000000000000),
    currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    interval       text NOT NULL CHECK (interval IN ('day', 'week', 'month', 'year')),
    interval_count integer NOT NULL CHECK (interval_count BETWEEN 1 AND 365),
    trial_days     integer NOT NULL CHECK (trial_days BETWEEN 0 AND 730),
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL,
    CHECK (CASE interval
        WHEN 'day' THEN interval_count <= 365
        WHEN 'week' THEN interval_count <= 52
        WHEN 'month' THEN interval_count <= 12
        ELSE interval_count = 1 END)
);

CREATE TABLE subscriptions (
    id                   uuid PRIMARY KEY,
    seq                  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id          uuid NOT NULL REFERENCES customers (id),
    plan_id              uuid NOT NULL REFERENCES plans (id),
    status               text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    start_at             timestamptz NOT NULL,
    billing_cycle_anchor timestamptz NOT NULL,
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL,
    trial_end            timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at          timestamptz,
    ended_at             timestamptz,
    cancellation_reason  text CHECK (cancellation_reason IN ('requested', 'nonpayment')),
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CHECK (current_period_end > current_period_start),
    CHECK ((status = 'canceled') = (ended_at IS NOT NULL))
);
-- One live subscription per customer: two concurrent creations can never both commit.
CREATE UNIQUE INDEX subscriptions_one_live_per_customer ON subscriptions (customer_id)
    WHERE status IN ('trialing', 'active', 'past_due');
CREATE INDEX subscriptions_customer ON subscriptions (customer_id, seq);
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status <> 'canceled';

-- Gapless invoice numbers: one row, incremented inside each invoice's transaction.
CREATE TABLE invoice_number_counter (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_value bigint NOT NULL CHECK (last_value >= 0)
);
INSERT INTO invoice_number_counter (singleton, last_value) VALUES (true, 0);

CREATE TABLE invoices (
    id                    uuid PRIMARY KEY,
    seq                   bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    number                text NOT NULL UNIQUE CHECK (number ~ '^INV-[0-9]{6,}$'),
    customer_id           uuid NOT NULL REFERENCES customers (id),
    subscription_id       uuid NOT NULL REFERENCES subscriptions (id),
    billing_reason        text NOT NULL
        CHECK (billing_reason IN ('subscription_create', 'subscription_cycle', 'subscription_update')),
    status                text NOT NULL CHECK (status IN ('open', 'paid', 'void', 'uncollectible')),
    currency              char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal_cents        bigint NOT NULL CHECK (subtotal_cents BETWEEN -100000000000000 AND 100000000000000),
    balance_applied_cents bigint NOT NULL,
    amount_cents          bigint NOT NULL CHECK (amount_cents >= 0),
    period_start          timestamptz NOT NULL,
    period_end            timestamptz NOT NULL,
    due_at                timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    paid_at               timestamptz,
    voided_at             timestamptz,
    marked_uncollectible_at timestamptz,
    CHECK (amount_cents = subtotal_cents + balance_applied_cents),
    CHECK (period_end >= period_start),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    CHECK ((status = 'void') = (voided_at IS NOT NULL))
);
-- Each billing period of a subscription is invoiced exactly once.
CREATE UNIQUE INDEX invoices_one_per_subscription_period ON invoices (subscription_id, period_start)
    WHERE billing_reason IN ('subscription_create', 'subscription_cycle');
CREATE INDEX invoices_customer ON invoices (customer_id, seq);
CREATE INDEX invoices_subscription ON invoices (subscription_id, seq);
CREATE INDEX invoices_open_due ON invoices (due_at) WHERE status = 'open';

CREATE TABLE invoice_lines (
    id           uuid PRIMARY KEY,
    invoice_id   uuid NOT NULL REFERENCES invoices (id),
    position     integer NOT NULL CHECK (position >= 0),
    kind         text NOT NULL CHECK (kind IN ('subscription', 'proration', 'trial')),
    description  text NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents BETWEEN -1000000000000 AND 1000000000000),
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    UNIQUE (invoice_id, position)
);

CREATE TABLE events (
    id         uuid PRIMARY KEY,
    seq        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    type       text NOT NULL CHECK (type IN (
        'customer.created', 'customer.updated', 'plan.created', 'plan.updated',
        'subscription.created', 'subscription.updated', 'subscription.canceled', 'subscription.trial_ended',
        'invoice.created', 'invoice.paid', 'invoice.voided', 'invoice.marked_uncollectible')),
    created_at timestamptz NOT NULL,
    data       json NOT NULL -- kept as written: the object exactly as the API returned it
);
CREATE INDEX events_type ON events (type, seq);

-- Idempotency-Key: the first request's response, scoped to the API key that sent it.
CREATE TABLE idempotency_keys (
    api_key_id      uuid NOT NULL REFERENCES api_keys (id),
    key             text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_method  text NOT NULL,
    request_path    text NOT NULL,
    request_hash    bytea NOT NULL,
    response_status integer NOT NULL,
    response_body   text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
