-- Changes scheduled at the period end (time.md): the plan and quantity the billing run moves
-- the subscription to at `pending_effective_at`, its current period's end, exactly once (in
-- the transaction that renews it, under its row lock).
ALTER TABLE subscriptions
    ADD COLUMN pending_plan_id uuid REFERENCES plans (id),
    ADD COLUMN pending_quantity integer CHECK (pending_quantity BETWEEN 1 AND 1000000),
    ADD COLUMN pending_effective_at timestamptz,
    ADD CHECK ((pending_plan_id IS NULL) = (pending_quantity IS NULL)
        AND (pending_plan_id IS NULL) = (pending_effective_at IS NULL));
