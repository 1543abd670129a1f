-- Test clocks (time.md): a customer on a clock lives at the clock's frozen time; only
-- advancing the clock moves it, through the same billing code the real-time run uses.
CREATE TABLE test_clocks (
    id                  uuid PRIMARY KEY,
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    name                text NOT NULL CHECK (char_length(name) <= 200),
    frozen_time         timestamptz NOT NULL,
    status              text NOT NULL CHECK (status IN ('ready', 'advancing')),
    -- While advancing: where to, and until when the advance holds the clock. An advance
    -- renews its lease after every step; one whose process died is taken over by the next
    -- advance request once the lease has passed, from the step it had committed.
    advancing_to        timestamptz,
    advance_lease_until timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK ((status = 'advancing') = (advancing_to IS NOT NULL AND advance_lease_until IS NOT NULL)),
    CHECK (advancing_to IS NULL OR advancing_to >= frozen_time)
);
GRANT SELECT, INSERT, UPDATE ON test_clocks TO billing_app;

-- A customer's clock is set at creation and never changes; its subscriptions copy it so that
-- the real-time run's index of due subscriptions leaves them out and a clock's own run
-- finds them through one of its own.
ALTER TABLE customers ADD COLUMN test_clock_id uuid REFERENCES test_clocks (id);
ALTER TABLE subscriptions ADD COLUMN test_clock_id uuid REFERENCES test_clocks (id);
CREATE INDEX customers_test_clock ON customers (test_clock_id) WHERE test_clock_id IS NOT NULL;
DROP INDEX subscriptions_due;
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status <> 'canceled' AND test_clock_id IS NULL;
CREATE INDEX subscriptions_test_clock_due ON subscriptions (test_clock_id, current_period_end)
    WHERE status <> 'canceled' AND test_clock_id IS NOT NULL;

-- Events of clock customers carry their clock.
ALTER TABLE events ADD COLUMN test_clock_id uuid;
