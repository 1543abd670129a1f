-- invoicing.md §1 "Number series" (INVOICE_NUMBERING): besides the one global series
-- (INV-000001, CN-000001), a series per customer (<prefix>-0001, <prefix>-CN-0001), so
-- that invoices of different customers never wait on one counter row. Each customer's
-- counters live on its row, which every transaction that numbers an invoice or a credit
-- note has locked already (the lock order: customer, subscription, counter): taking a
-- number there adds no lock. Gapless as the global series is: a rolled-back transaction
-- gives its numbers back with its update of the row.

-- Every number of both series is written by this one function: a series' text, then the
-- value with at least `digits` digits (more once they are needed).
CREATE FUNCTION document_number(series text, value bigint, digits integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT series || lpad(value::text, greatest(digits, length(value::text)), '0') $$;

ALTER TABLE customers
    ADD COLUMN invoice_prefix text CHECK (invoice_prefix ~ '^[A-Z0-9]{8}$'),
    ADD COLUMN invoice_number_last bigint NOT NULL DEFAULT 0 CHECK (invoice_number_last >= 0),
    ADD COLUMN credit_note_number_last bigint NOT NULL DEFAULT 0 CHECK (credit_note_number_last >= 0);

-- Existing customers get a prefix now, eight of 0-9A-Z drawn from the md5 of their id and
-- an attempt number; the few that collide draw again with the next attempt until none do.
-- (New customers get a random one from the service, which retries on a collision too.)
DO $$
DECLARE
    attempt integer := 0;
BEGIN
    LOOP
        UPDATE customers c SET invoice_prefix = (
            SELECT string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', get_byte(digest.bytes, i) % 36 + 1, 1), ''
                              ORDER BY i)
            FROM (SELECT decode(md5(c.id::text || ':' || attempt), 'hex') AS bytes) digest, generate_series(0, 7) i)
        WHERE c.invoice_prefix IS NULL OR c.id IN (
            SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY invoice_prefix ORDER BY id) AS nth
                            FROM customers) ranked
            WHERE nth > 1);
        EXIT WHEN NOT FOUND;
        attempt := attempt + 1;
    END LOOP;
END
$$;
ALTER TABLE customers ALTER COLUMN invoice_prefix SET NOT NULL;
-- A customer's row now changes with every number it takes: room left on each page lets
-- those updates stay on the page without new index entries (HOT), as the counter row's do.
ALTER TABLE customers SET (fillfactor = 80);
CREATE UNIQUE INDEX customers_invoice_prefix ON customers (invoice_prefix);

-- A prefix is the customer's for good, and a series never goes back, whatever code runs.
CREATE FUNCTION refuse_number_series_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'customer %: an invoice prefix never changes and its number series never go back', OLD.id
        USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
CREATE TRIGGER customers_number_series_only_forward
    BEFORE UPDATE OF invoice_prefix, invoice_number_last, credit_note_number_last ON customers
    FOR EACH ROW
    WHEN (NEW.invoice_prefix IS DISTINCT FROM OLD.invoice_prefix
          OR NEW.invoice_number_last < OLD.invoice_number_last
          OR NEW.credit_note_number_last < OLD.credit_note_number_last)
    EXECUTE FUNCTION refuse_number_series_change();

ALTER TABLE invoices DROP CONSTRAINT invoices_number_check,
    ADD CONSTRAINT invoices_number_format CHECK (number ~ '^(INV-[0-9]{6,}|[A-Z0-9]{8}-[0-9]{4,})$');
ALTER TABLE credit_notes DROP CONSTRAINT credit_notes_number_check,
    ADD CONSTRAINT credit_notes_number_format CHECK (number ~ '^(CN-[0-9]{6,}|[A-Z0-9]{8}-CN-[0-9]{4,})$');
