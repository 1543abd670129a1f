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
-- amount_cents}`), written once with it and, like its amounts, never changed after (the
-- invoice trigger as it stands after sql/0008, which also lists coupon.* among events).
ALTER TABLE invoices ADD COLUMN discounts text NOT NULL DEFAULT '[]';

GRANT SELECT, INSERT, UPDATE ON coupons TO billing_app;
