-- invoicing.md §1–4: drafts and finalization, one-off invoices, invoice items, quantities
-- (seats) and partial payments. Rules that must hold under races are constraints here.

-- §1 Drafts: no number, no due date and no finalization time until finalized. One-off
-- ('manual') invoices belong to no subscription.
ALTER TABLE invoices ALTER COLUMN number DROP NOT NULL,
    ALTER COLUMN subscription_id DROP NOT NULL,
    ALTER COLUMN due_at DROP NOT NULL,
    DROP CONSTRAINT invoices_status_check,
    DROP CONSTRAINT invoices_billing_reason_check,
    ADD COLUMN description text CHECK (char_length(description) BETWEEN 1 AND 500),
    ADD COLUMN days_until_due integer CHECK (days_until_due BETWEEN 0 AND 365),
    ADD COLUMN finalized_at timestamptz,
    ADD COLUMN finalizes_at timestamptz,
    ADD COLUMN discount_cents bigint NOT NULL DEFAULT 0 CHECK (discount_cents >= 0),
    ADD COLUMN tax_cents bigint NOT NULL DEFAULT 0, -- negative on a credit (§7: tax of a negative taxable amount)
    ADD COLUMN total_cents bigint,
    ADD COLUMN amount_paid_cents bigint NOT NULL DEFAULT 0 CHECK (amount_paid_cents >= 0),
    ADD COLUMN amount_remaining_cents bigint;

-- Invoices made before drafts existed were finalized when they were created; those paid
-- were paid in full (without payment rows: payments did not exist yet). Filling in the new
-- columns is no change of a settled invoice: its trigger is off for this statement only.
ALTER TABLE invoices DISABLE TRIGGER invoices_settled_are_immutable;
UPDATE invoices SET finalized_at = created_at, total_cents = subtotal_cents,
    amount_paid_cents = CASE WHEN status = 'paid' THEN amount_cents ELSE 0 END,
    amount_remaining_cents = CASE WHEN status IN ('open', 'uncollectible') THEN amount_cents ELSE 0 END;
ALTER TABLE invoices ENABLE TRIGGER invoices_settled_are_immutable;

-- The old identity amount = subtotal + balance applied becomes amount = total + balance
-- applied (a discount and taxes lie between subtotal and total).
DO $$
DECLARE
    name text;
BEGIN
    SELECT conname INTO STRICT name FROM pg_constraint
    WHERE conrelid = 'invoices'::regclass AND pg_get_constraintdef(oid) LIKE '%amount_cents = (subtotal_cents + balance_applied_cents)%';
    EXECUTE format('ALTER TABLE invoices DROP CONSTRAINT %I', name);
END
$$;

ALTER TABLE invoices ALTER COLUMN total_cents SET NOT NULL,
    ALTER COLUMN amount_remaining_cents SET NOT NULL,
    ADD CONSTRAINT invoices_status_check CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    ADD CONSTRAINT invoices_billing_reason_check
        CHECK (billing_reason IN ('manual', 'subscription_create', 'subscription_cycle', 'subscription_update')),
    ADD CONSTRAINT invoices_manual_without_subscription CHECK ((billing_reason = 'manual') = (subscription_id IS NULL)),
    ADD CONSTRAINT invoices_number_when_finalized CHECK ((status = 'draft') = (number IS NULL)),
    ADD CONSTRAINT invoices_finalized_at_when_finalized CHECK ((status = 'draft') = (finalized_at IS NULL)),
    ADD CONSTRAINT invoices_due_at_when_finalized CHECK ((status = 'draft') = (due_at IS NULL)),
    ADD CONSTRAINT invoices_total_range CHECK (total_cents BETWEEN -100000000000000 AND 100000000000000),
    ADD CONSTRAINT invoices_amount_is_total_plus_balance CHECK (amount_cents = total_cents + balance_applied_cents),
    -- Never an overpayment, whatever runs: what is paid and what remains fit in the amount due.
    ADD CONSTRAINT invoices_remaining_not_negative CHECK (amount_remaining_cents >= 0),
    ADD CONSTRAINT invoices_paid_within_amount CHECK (amount_paid_cents + amount_remaining_cents <= amount_cents);

-- §2 Invoice items: pending (no invoice) until the next invoice of their customer takes
-- them. The invoice is checked at commit: a new invoice takes its items before it is
-- inserted (its number, taken under the counter's lock, comes last; see sql/0004).
CREATE TABLE invoice_items (
    id                uuid PRIMARY KEY,
    seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id       uuid NOT NULL REFERENCES customers (id),
    invoice_id        uuid REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    currency          char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description       text NOT NULL CHECK (char_length(description) BETWEEN 1 AND 500),
    quantity          integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    unit_amount_cents bigint NOT NULL CHECK (unit_amount_cents BETWEEN -1000000000000 AND 1000000000000),
    amount_cents      bigint NOT NULL CHECK (amount_cents BETWEEN -1000000000000 AND 1000000000000),
    period_start      timestamptz NOT NULL,
    period_end        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CHECK (amount_cents = unit_amount_cents * quantity),
    CHECK (period_end >= period_start)
);
CREATE INDEX invoice_items_pending ON invoice_items (customer_id, seq) WHERE invoice_id IS NULL;
CREATE INDEX invoice_items_customer ON invoice_items (customer_id, seq);
CREATE INDEX invoice_items_invoice ON invoice_items (invoice_id, seq);

-- §2–3 Lines: items, and the quantity and unit price of every line (invoices of older
-- versions knew neither for proration lines).
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_kind_check,
    ADD CONSTRAINT invoice_lines_kind_check CHECK (kind IN ('subscription', 'proration', 'trial', 'item')),
    ADD COLUMN quantity integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 1000000),
    ADD COLUMN unit_amount_cents bigint CHECK (unit_amount_cents BETWEEN -1000000000000 AND 1000000000000),
    ADD COLUMN invoice_item_id uuid REFERENCES invoice_items (id);
-- An item is one line at most; lines of other kinds (all of the billing run's) have no
-- entry in the index.
CREATE UNIQUE INDEX invoice_lines_one_per_item ON invoice_lines (invoice_item_id) WHERE invoice_item_id IS NOT NULL;
ALTER TABLE invoice_lines DISABLE TRIGGER invoice_lines_of_settled_invoices_are_immutable;
UPDATE invoice_lines SET unit_amount_cents = amount_cents WHERE kind IN ('subscription', 'trial');
ALTER TABLE invoice_lines ENABLE TRIGGER invoice_lines_of_settled_invoices_are_immutable;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_item_kind CHECK ((kind = 'item') = (invoice_item_id IS NOT NULL));

-- §3 Seats.
ALTER TABLE subscriptions ADD COLUMN quantity integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 1000000);

-- §4 Payments: each part of what an invoice was paid. The sum is the invoice's
-- amount_paid_cents, updated in the same transaction under the invoice's row lock.
CREATE TABLE payments (
    id           uuid PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    invoice_id   uuid NOT NULL REFERENCES invoices (id),
    amount_cents bigint NOT NULL CHECK (amount_cents BETWEEN 1 AND 100000000000000),
    paid_at      timestamptz NOT NULL,
    reference    text CHECK (char_length(reference) BETWEEN 1 AND 500),
    created_at   timestamptz NOT NULL
);
CREATE INDEX payments_invoice ON payments (invoice_id, seq);

-- Once finalized, an invoice's amounts, lines and items are fixed: only its state
-- (status and its times), what was paid and what remains change; a paid or void invoice
-- not even that, and only drafts are deleted. The invoice trigger says so as it stands
-- after sql/0008 (which adds the columns of #13); the lines' and items' triggers here.

-- A line or an item may be added to, changed on or removed from a draft only. A line
-- whose invoice does not exist yet belongs to an invoice being made in this transaction.
CREATE OR REPLACE FUNCTION refuse_settled_invoice_line_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent_id uuid;
    parent invoices%ROWTYPE;
BEGIN
    parent_id := CASE TG_OP WHEN 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
    SELECT * INTO parent FROM invoices WHERE id = parent_id;
    IF FOUND AND parent.status <> 'draft' THEN
        RAISE EXCEPTION 'invoice % is %: its lines never change', parent.number, parent.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.invoice_id IS DISTINCT FROM OLD.invoice_id THEN
        SELECT * INTO parent FROM invoices WHERE id = NEW.invoice_id;
        IF FOUND AND parent.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is %: its lines never change', parent.number, parent.status
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END;
$$;

-- New lines are checked once per statement, not per row: the billing run inserts
-- hundreds in one statement, before their invoices exist. Their invoices are looked up by
-- primary key, planned at each call (EXECUTE): a plan cached while the table was small
-- would scan every invoice once it is not (measured: 24 ms a statement at 100,000
-- invoices, against about 1 ms).
CREATE FUNCTION refuse_lines_added_to_finalized_invoices() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent invoices%ROWTYPE;
BEGIN
    EXECUTE 'SELECT * FROM invoices WHERE id = ANY ($1) AND status <> ''draft'' LIMIT 1'
        INTO parent USING ARRAY(SELECT DISTINCT invoice_id FROM added);
    IF parent.id IS NOT NULL THEN
        RAISE EXCEPTION 'invoice % is %: its lines never change', parent.number, parent.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER invoice_lines_of_finalized_invoices_get_no_more
    AFTER INSERT ON invoice_lines REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_lines_added_to_finalized_invoices();
CREATE TRIGGER invoice_items_of_settled_invoices_are_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON invoice_items
    FOR EACH ROW EXECUTE FUNCTION refuse_settled_invoice_line_change();

ALTER TABLE events DROP CONSTRAINT events_type_check,
    ADD CONSTRAINT events_type_check CHECK (type IN (
        'customer.created', 'customer.updated', 'plan.created', 'plan.updated',
        'subscription.created', 'subscription.updated', 'subscription.canceled', 'subscription.trial_ended',
        'invoice.created', 'invoice.updated', 'invoice.deleted', 'invoice.finalized', 'invoice.paid',
        'invoice.voided', 'invoice.marked_uncollectible',
        'invoice_item.created', 'invoice_item.updated', 'invoice_item.deleted', 'payment.created'));

-- An event's body is kept as the text the service wrote (its JSONWriter makes only valid
-- JSON; the API answers it as it is). As `json` it was parsed a second time under the
-- invoice-number lock, where a transaction that makes invoices writes their events with
-- their numbers put in: json_lex was then PostgreSQL's largest function in the billing
-- run's profile (5.8% of all CPU).
ALTER TABLE events ALTER COLUMN data TYPE text USING data::text;

GRANT SELECT, INSERT, UPDATE, DELETE ON invoice_items TO billing_app;
GRANT SELECT, INSERT ON payments TO billing_app;
GRANT DELETE ON invoices, invoice_lines TO billing_app;
