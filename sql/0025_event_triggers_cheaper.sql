-- Every statement that writes events runs two triggers: the subscription states (sql/0021)
-- and the webhook fan-out (sql/0010). Both cost more than they had to (measured with
-- pgbench, one statement writing five invoice and plan events, 8 clients; README,
-- "Performance").

-- 1. The states were stored by a LANGUAGE sql function, which PostgreSQL parses and plans
--    again at every call (its plan lives only as long as the calling query), called even
--    for a statement that wrote no subscription event: 28% of the CPU of such a statement
--    with three endpoints. The trigger now stores only what it found, and the function is
--    PL/pgSQL, whose statement keeps one plan for the session (a generic one: with the
--    array's length known, a custom plan always looked cheaper and was made every time).
CREATE OR REPLACE FUNCTION store_subscription_states(candidates subscription_states[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
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
    ON CONFLICT DO NOTHING;
END;
$$;

CREATE OR REPLACE FUNCTION record_written_subscription_states() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    states subscription_states[];
BEGIN
    states := ARRAY(
        SELECT ROW(s.id, w.seq, w.created_at, s.customer_id, p.currency, s.status, s.cancellation_reason,
            mrr_numerator(s.status, p.amount_cents, s.quantity, p.interval, k.percent_off, k.amount_off_cents),
            12 * p.interval_count)::subscription_states
        FROM written w
        JOIN subscriptions s ON s.id = substr(w.data, 8, 36)::uuid
        JOIN plans p ON p.id = s.plan_id
        LEFT JOIN coupons k ON k.id = s.discount_coupon_id AND k.duration = 'forever'
        WHERE w.type LIKE 'subscription.%' AND w.data LIKE '{"id":"%');
    IF cardinality(states) > 0 THEN
        PERFORM store_subscription_states(states);
    END IF;
    RETURN NULL;
END;
$$;

-- 2. A delivery's endpoint was a foreign key, whose check took a key-share lock on the
--    endpoint's row for every delivery written (writers at once share it through a
--    multixact): a fifth to a quarter of the fan-out's cost. What it guaranteed holds
--    without it: deliveries are written only by the fan-out, for endpoints it has just read,
--    and an endpoint's row is never deleted (`DELETE /webhook-endpoints/{id}` sets
--    `deleted_at`; the application role has no DELETE, and this trigger refuses any role's).
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_endpoint_id_fkey;

CREATE FUNCTION refuse_webhook_endpoint_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'webhook endpoints are never deleted: their deliveries name them (deleted_at marks a deleted one)'
        USING ERRCODE = 'object_not_in_prerequisite_state';
END;
$$;
CREATE TRIGGER webhook_endpoints_are_kept BEFORE DELETE OR TRUNCATE ON webhook_endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_webhook_endpoint_delete();
