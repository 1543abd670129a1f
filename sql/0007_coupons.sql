-- invoicing.md §5: coupons, and the discount a subscription has from one. A redemption
-- limit holds under any race: the count is a column the redeeming UPDATE raises under its
-- row lock, and a CHECK refuses it past the limit whatever code runs.

CREATE TABLE coupons (
    id                  uuid PRIMARY KEY,
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    code                text NOT NULL UNIQUE CHECK (char_length(code) BETWEEN 1 AND 100),
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- Two decimals at most, 0.01 … 100, exact.
    percent_off         numeric(5, 2) CHECK (percent_off >= 0.01 AND percent_off <= 100),
    amount_off_cents    bigint CHECK (amount_off_cents BETWEEN 1 AND 1000000000000),
    currency            char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    duration            text NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
    duration_in_periods integer CHECK (duration_in_periods BETWEEN 1 AND 120),
    max_redemptions     integer CHECK (max_redemptions >= 1),
    times_redeemed      integer NOT NULL DEFAULT 0 CHECK (times_redeemed >= 0),
    redeem_by           timestamptz,
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL,
    CHECK ((percent_off IS NULL) <> (amount_off_cents IS NULL)),
    CHECK ((amount_off_cents IS NULL) = (currency IS NULL)),
    CHECK ((duration = 'repeating') = (duration_in_periods IS NOT NULL)),
    CHECK (max_redemptions IS NULL OR times_redeemed <= max_redemptions)
);

-- A subscription's discount: the coupon, when it started, when it ends (repeating only),
-- and how many invoices it has discounted.
ALTER TABLE subscriptions ADD COLUMN discount_coupon_id uuid REFERENCES coupons (id),
    ADD COLUMN discount_coupon_code text, -- a coupon's code never changes: kept here for reads
    ADD COLUMN discount_start timestamptz,
    ADD COLUMN discount_end timestamptz,
    ADD COLUMN discount_periods_applied integer NOT NULL DEFAULT 0 CHECK (discount_periods_applied >= 0),
    ADD CONSTRAINT subscriptions_discount_has_a_start CHECK ((discount_coupon_id IS NULL) = (discount_start IS NULL));

-- The discounts of an invoice as they were at finalization (`{coupon_id, coupon_code,
-- amount_cents}`), written once with it and, like its amounts, never changed after.
ALTER TABLE invoices ADD COLUMN discounts text NOT NULL DEFAULT '[]';

CREATE OR REPLACE FUNCTION refuse_settled_invoice_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('paid', 'void') THEN
        RAISE EXCEPTION 'invoice % is %: paid and void invoices never change', OLD.number, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is finalized: only drafts are deleted, finalized invoices never change', OLD.number
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.number, NEW.customer_id, NEW.subscription_id, NEW.billing_reason, NEW.currency,
            NEW.subtotal_cents, NEW.discount_cents, NEW.discounts, NEW.tax_cents, NEW.taxes, NEW.total_cents,
            NEW.balance_applied_cents, NEW.amount_cents, NEW.period_start, NEW.period_end, NEW.due_at, NEW.created_at,
            NEW.finalized_at, NEW.description, NEW.days_until_due)
        IS DISTINCT FROM (OLD.number, OLD.customer_id, OLD.subscription_id, OLD.billing_reason, OLD.currency,
            OLD.subtotal_cents, OLD.discount_cents, OLD.discounts, OLD.tax_cents, OLD.taxes, OLD.total_cents,
            OLD.balance_applied_cents, OLD.amount_cents, OLD.period_start, OLD.period_end, OLD.due_at, OLD.created_at,
            OLD.finalized_at, OLD.description, OLD.days_until_due) THEN
        RAISE EXCEPTION 'invoice % is finalized: its amounts never change', OLD.number
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF OLD.status <> 'draft' AND NEW.status = 'draft' THEN
        RAISE EXCEPTION 'invoice % is finalized: it never becomes a draft again', OLD.number
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END;
$$;

ALTER TABLE events DROP CONSTRAINT events_type_check,
    ADD CONSTRAINT events_type_check CHECK (type IN (
        'customer.created', 'customer.updated', 'plan.created', 'plan.updated',
        'subscription.created', 'subscription.updated', 'subscription.canceled', 'subscription.trial_ended',
        'invoice.created', 'invoice.updated', 'invoice.deleted', 'invoice.finalized', 'invoice.paid',
        'invoice.voided', 'invoice.marked_uncollectible',
        'invoice_item.created', 'invoice_item.updated', 'invoice_item.deleted', 'payment.created',
        'tax_rate.created', 'tax_rate.updated', 'coupon.created', 'coupon.updated'));

GRANT SELECT, INSERT, UPDATE ON coupons TO billing_app;
