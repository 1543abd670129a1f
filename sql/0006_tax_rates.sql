-- invoicing.md §6: tax rates, given to customers and subscriptions, copied onto an invoice
-- when it is finalized (later changes of the customer never change a finalized invoice).

CREATE TABLE tax_rates (
    id           uuid PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    description  text CHECK (char_length(description) BETWEEN 1 AND 500),
    -- At most four decimals, 0 … 99.9999, exact.
    percentage   numeric(6, 4) NOT NULL CHECK (percentage >= 0 AND percentage < 100),
    inclusive    boolean NOT NULL,
    country      char(2) CHECK (country ~ '^[A-Z]{2}$'),
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL
);

-- What an invoice was taxed with is fixed by the rate: its percentage and inclusiveness
-- never change, whatever code runs.
CREATE FUNCTION refuse_tax_rate_terms_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.percentage, NEW.inclusive) IS DISTINCT FROM (OLD.percentage, OLD.inclusive) THEN
        RAISE EXCEPTION 'tax rate %: its percentage and inclusiveness never change', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER tax_rates_terms_are_immutable
    BEFORE UPDATE ON tax_rates FOR EACH ROW EXECUTE FUNCTION refuse_tax_rate_terms_change();

ALTER TABLE customers ADD COLUMN tax_rate_ids uuid[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(tax_rate_ids) <= 5);
ALTER TABLE subscriptions ADD COLUMN tax_rate_ids uuid[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(tax_rate_ids) <= 5);

-- The taxes of a finalized invoice as they were at finalization, one entry per rate
-- (`{tax_rate_id, display_name, percentage, inclusive, taxable_amount_cents,
-- amount_cents}`, the percentage an exact decimal string), written once with the invoice.
ALTER TABLE invoices ADD COLUMN taxes text NOT NULL DEFAULT '[]';

-- ... and, like its amounts, never changed after.
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
            NEW.subtotal_cents, NEW.discount_cents, NEW.tax_cents, NEW.taxes, NEW.total_cents, NEW.balance_applied_cents,
            NEW.amount_cents, NEW.period_start, NEW.period_end, NEW.due_at, NEW.created_at, NEW.finalized_at,
            NEW.description, NEW.days_until_due)
        IS DISTINCT FROM (OLD.number, OLD.customer_id, OLD.subscription_id, OLD.billing_reason, OLD.currency,
            OLD.subtotal_cents, OLD.discount_cents, OLD.tax_cents, OLD.taxes, OLD.total_cents, OLD.balance_applied_cents,
            OLD.amount_cents, OLD.period_start, OLD.period_end, OLD.due_at, OLD.created_at, OLD.finalized_at,
            OLD.description, OLD.days_until_due) THEN
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
        'tax_rate.created', 'tax_rate.updated'));

GRANT SELECT, INSERT, UPDATE ON tax_rates TO billing_app;
