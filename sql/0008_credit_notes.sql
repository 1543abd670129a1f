-- invoicing.md §8: credit notes, with their own gapless number series (CN-000001). Notes of
-- one invoice never exceed its total together: each is checked under the invoice's row
-- lock, and a CHECK on the invoice's credited amount refuses it whatever code runs.

CREATE TABLE credit_note_number_counter (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_value bigint NOT NULL CHECK (last_value >= 0)
);
INSERT INTO credit_note_number_counter (singleton, last_value) VALUES (true, 0);

CREATE TABLE credit_notes (
    id                       uuid PRIMARY KEY,
    seq                      bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    number                   text NOT NULL UNIQUE CHECK (number ~ '^CN-[0-9]{6,}$'),
    invoice_id               uuid NOT NULL REFERENCES invoices (id),
    customer_id              uuid NOT NULL REFERENCES customers (id),
    status                   text NOT NULL CHECK (status IN ('issued', 'void')),
    amount_cents             bigint NOT NULL CHECK (amount_cents BETWEEN 1 AND 100000000000000),
    tax_cents                bigint NOT NULL,
    -- Where the amount went: the invoice's remainder first, then refunds, the customer's
    -- balance and money settled outside the service.
    remainder_amount_cents   bigint NOT NULL CHECK (remainder_amount_cents >= 0),
    refund_amount_cents      bigint NOT NULL CHECK (refund_amount_cents >= 0),
    credit_amount_cents      bigint NOT NULL CHECK (credit_amount_cents >= 0),
    out_of_band_amount_cents bigint NOT NULL CHECK (out_of_band_amount_cents >= 0),
    made_invoice_paid        boolean NOT NULL,
    reason                   text CHECK (reason IN ('duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory')),
    memo                     text CHECK (char_length(memo) BETWEEN 1 AND 500),
    created_at               timestamptz NOT NULL,
    voided_at                timestamptz,
    CHECK (remainder_amount_cents + refund_amount_cents + credit_amount_cents + out_of_band_amount_cents = amount_cents),
    CHECK ((status = 'void') = (voided_at IS NOT NULL))
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, seq);
CREATE INDEX credit_notes_customer ON credit_notes (customer_id, seq);

ALTER TABLE invoices ADD COLUMN credited_cents bigint NOT NULL DEFAULT 0 CHECK (credited_cents >= 0),
    ADD CONSTRAINT invoices_credited_within_total CHECK (credited_cents <= greatest(total_cents, 0));

-- The invoice trigger for #13: a finalized invoice's amounts, taxes and discounts never
-- change, and a paid invoice not at all, but for what its credit notes credit against it.
CREATE OR REPLACE FUNCTION refuse_settled_invoice_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    compared invoices%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'paid' THEN
        compared := NEW;
        compared.credited_cents := OLD.credited_cents;
        IF compared IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
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

-- The events of #13: tax rates (sql/0006), coupons (sql/0007) and credit notes.
ALTER TABLE events DROP CONSTRAINT events_type_check,
    ADD CONSTRAINT events_type_check CHECK (type IN (
        'customer.created', 'customer.updated', 'plan.created', 'plan.updated',
        'subscription.created', 'subscription.updated', 'subscription.canceled', 'subscription.trial_ended',
        'invoice.created', 'invoice.updated', 'invoice.deleted', 'invoice.finalized', 'invoice.paid',
        'invoice.voided', 'invoice.marked_uncollectible',
        'invoice_item.created', 'invoice_item.updated', 'invoice_item.deleted', 'payment.created',
        'tax_rate.created', 'tax_rate.updated', 'coupon.created', 'coupon.updated',
        'credit_note.created', 'credit_note.voided'));

GRANT SELECT, INSERT, UPDATE ON credit_notes, credit_note_number_counter TO billing_app;
