-- A paid or void invoice never changes again, whatever code runs against the database.

CREATE FUNCTION refuse_settled_invoice_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('paid', 'void') THEN
        RAISE EXCEPTION 'invoice % is %: paid and void invoices never change', OLD.number, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END;
$$;

CREATE TRIGGER invoices_settled_are_immutable
    BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION refuse_settled_invoice_change();

CREATE FUNCTION refuse_settled_invoice_line_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent invoices%ROWTYPE;
BEGIN
    SELECT * INTO parent FROM invoices WHERE id = OLD.invoice_id;
    IF parent.status IN ('paid', 'void') THEN
        RAISE EXCEPTION 'invoice % is %: its lines never change', parent.number, parent.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END;
$$;

CREATE TRIGGER invoice_lines_of_settled_invoices_are_immutable
    BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION refuse_settled_invoice_line_change();

-- Events, once written, are history.
CREATE FUNCTION refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'object_not_in_prerequisite_state';
END;
$$;

CREATE TRIGGER events_are_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change();
