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
-- Like the amounts, it never changes after finalization: the invoice trigger as it stands
-- after sql/0008 guards it, and that file also adds tax_rate.* to the events' types.

GRANT SELECT, INSERT, UPDATE ON tax_rates TO billing_app;
