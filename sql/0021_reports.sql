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

-- The states the events with sequence numbers `seqs` describe, each kept only if it differs
-- from the subscription's state before it (within `seqs`, or the last one stored).
CREATE FUNCTION record_subscription_states(seqs bigint[]) RETURNS void LANGUAGE sql AS $$
    WITH computed AS (
        SELECT (d->>'id')::uuid AS subscription_id, e.seq AS event_seq, e.created_at AS at,
            (d->>'customer_id')::uuid AS customer_id, p.currency, d->>'status' AS status,
            d->>'cancellation_reason' AS cancellation_reason,
            CASE WHEN d->>'status' IN ('active', 'past_due') THEN
                greatest(p.amount_cents * (d->>'quantity')::numeric * (1 - coalesce(k.percent_off, 0) / 100)
                    - coalesce(k.amount_off_cents, 0), 0)
                * CASE p.interval WHEN 'year' THEN 1 WHEN 'month' THEN 12 WHEN 'week' THEN 52 ELSE 365 END
            ELSE 0 END AS mrr_numerator,
            12 * p.interval_count AS mrr_denominator
        FROM events e
        CROSS JOIN LATERAL (SELECT e.data::jsonb AS d) j
        JOIN plans p ON p.id = (d->>'plan_id')::uuid
        LEFT JOIN coupons k ON k.id = (d->'discount'->>'coupon_id')::uuid AND k.duration = 'forever'
        WHERE e.seq = ANY(seqs) AND e.type LIKE 'subscription.%'
    ), compared AS (
        SELECT c.*, lag(ROW(c.currency, c.status, c.cancellation_reason, c.mrr_numerator, c.mrr_denominator))
            OVER (PARTITION BY c.subscription_id ORDER BY c.event_seq) AS previous
        FROM computed c
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

-- Written with the events, in their statement: a state is never missing or late.
CREATE FUNCTION record_written_subscription_states() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    seqs bigint[];
BEGIN
    SELECT array_agg(seq) INTO seqs FROM written WHERE type LIKE 'subscription.%';
    IF seqs IS NOT NULL THEN
        PERFORM record_subscription_states(seqs);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_record_subscription_states AFTER INSERT ON events
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION record_written_subscription_states();

SELECT record_subscription_states(ARRAY(SELECT seq FROM events WHERE type LIKE 'subscription.%' ORDER BY seq));

-- Sums of fractions stay exact over a common denominator: the least common multiple of
-- every denominator in play.
CREATE AGGREGATE lcm_agg(numeric) (SFUNC = lcm, STYPE = numeric, INITCOND = '1');

-- value / denominator in whole minor units, rounded once, half away from zero.
CREATE FUNCTION minor_units(value numeric, denominator numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN sign(value) * div(2 * abs(value) + denominator, 2 * denominator);

GRANT SELECT, INSERT ON subscription_states TO billing_app;
