-- Reports (api/documents.md): every subscription's state over time, in business time (an
-- event's `created_at`, a test clock's time for its customers), as the events tell it.
-- One row per change of what the reports read: status, cancellation reason, currency and
-- monthly recurring revenue. A renewal changes none of them and adds no row.
--
-- MRR is kept exact as a fraction of minor units: mrr_numerator / mrr_denominator, where the
-- numerator is plan amount × quantity, less a `forever` coupon (a percentage exactly, or a
-- fixed amount, never below 0), times 1 (yearly), 12 (monthly), 52 (weekly) or 365 (daily),
-- and the denominator is 12 × interval_count. Only `active` and `past_due` subscriptions
-- have MRR; a trial has 0.
CREATE TABLE subscription_states (
    subscription_id     uuid NOT NULL,
    event_seq           bigint NOT NULL,
    at                  timestamptz NOT NULL,
    customer_id         uuid NOT NULL,
    currency            char(3) NOT NULL,
    status              text NOT NULL,
    cancellation_reason text,
    mrr_numerator       numeric NOT NULL CHECK (mrr_numerator >= 0),
    mrr_denominator     integer NOT NULL CHECK (mrr_denominator > 0),
    PRIMARY KEY (subscription_id, event_seq)
);

-- A subscription's MRR numerator: only `active` and `past_due` subscriptions have any.
CREATE FUNCTION mrr_numerator(status text, amount bigint, quantity numeric, plan_interval text, percent_off numeric,
    amount_off bigint) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN status IN ('active', 'past_due') THEN
        greatest(amount * quantity * (1 - coalesce(percent_off, 0) / 100) - coalesce(amount_off, 0), 0)
        * CASE plan_interval WHEN 'year' THEN 1 WHEN 'month' THEN 12 WHEN 'week' THEN 52 ELSE 365 END
    ELSE 0 END;

-- Stores the candidate states that differ from their subscription's state before them
-- (the candidate before it, or the last one stored).
CREATE FUNCTION store_subscription_states(candidates subscription_states[]) RETURNS void LANGUAGE sql AS $$
    WITH compared AS (
        SELECT c.*, lag(ROW(c.currency, c.status, c.cancellation_reason, c.mrr_numerator, c.mrr_denominator))
            OVER (PARTITION BY c.subscription_id ORDER BY c.event_seq) AS previous
        FROM unnest(candidates) c
    )
    INSERT INTO subscription_states
    SELECT subscription_id, event_seq, at, customer_id, currency, status, cancellation_reason, mrr_numerator,
        mrr_denominator
    FROM compared c
    WHERE CASE WHEN c.previous IS NOT NULL
        THEN c.previous IS DISTINCT FROM ROW(c.currency, c.status, c.cancellation_reason, c.mrr_numerator, c.mrr_denominator)
        ELSE NOT EXISTS (
            SELECT 1 FROM (SELECT * FROM subscription_states l WHERE l.subscription_id = c.subscription_id
                           ORDER BY l.event_seq DESC LIMIT 1) l
            WHERE ROW(l.currency, l.status, l.cancellation_reason, l.mrr_numerator, l.mrr_denominator)
                IS NOT DISTINCT FROM ROW(c.currency, c.status, c.cancellation_reason, c.mrr_numerator, c.mrr_denominator))
        END
    ON CONFLICT DO NOTHING
$$;

-- Written with the events, in their statement: a state is never missing or late. The state
-- is the subscription's row as the statement leaves it (every change of a subscription
-- writes its event in the transaction that makes it), found by the id that opens every
-- event body: no body is parsed, so a renewal, which changes nothing here, costs two index
-- lookups.
CREATE FUNCTION record_written_subscription_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM store_subscription_states(ARRAY(
        SELECT ROW(s.id, w.seq, w.created_at, s.customer_id, p.currency, s.status, s.cancellation_reason,
            mrr_numerator(s.status, p.amount_cents, s.quantity, p.interval, k.percent_off, k.amount_off_cents),
            12 * p.interval_count)::subscription_states
        FROM written w
        JOIN subscriptions s ON s.id = substr(w.data, 8, 36)::uuid
        JOIN plans p ON p.id = s.plan_id
        LEFT JOIN coupons k ON k.id = s.discount_coupon_id AND k.duration = 'forever'
        WHERE w.type LIKE 'subscription.%' AND w.data LIKE '{"id":"%'));
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_record_subscription_states AFTER INSERT ON events
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION record_written_subscription_states();

-- The history so far, from the events' own bodies (each the subscription as it was then).
SELECT store_subscription_states(ARRAY(
    SELECT ROW((d->>'id')::uuid, e.seq, e.created_at, (d->>'customer_id')::uuid, p.currency, d->>'status',
        d->>'cancellation_reason',
        mrr_numerator(d->>'status', p.amount_cents, (d->>'quantity')::numeric, p.interval, k.percent_off,
            k.amount_off_cents),
        12 * p.interval_count)::subscription_states
    FROM events e
    CROSS JOIN LATERAL (SELECT e.data::jsonb AS d) j
    JOIN plans p ON p.id = (d->>'plan_id')::uuid
    LEFT JOIN coupons k ON k.id = (d->'discount'->>'coupon_id')::uuid AND k.duration = 'forever'
    WHERE e.type LIKE 'subscription.%'
    ORDER BY e.seq));

-- Sums of fractions stay exact over a common denominator: the least common multiple of
-- every denominator in play.
CREATE AGGREGATE lcm_agg(numeric) (SFUNC = lcm, STYPE = numeric, INITCOND = '1');

-- value / denominator in whole minor units, rounded once, half away from zero.
CREATE FUNCTION minor_units(value numeric, denominator numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN sign(value) * div(2 * abs(value) + denominator, 2 * denominator);

GRANT SELECT, INSERT ON subscription_states TO billing_app;
