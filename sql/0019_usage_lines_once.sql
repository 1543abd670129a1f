-- A usage window is billed once: its draft gets one line per meter it charges, whatever
-- billing runs, clock advances and finalizations race for it (they claim the window under
-- its subscription's lock; this index is the rule itself).
CREATE UNIQUE INDEX invoice_lines_usage_once ON invoice_lines (invoice_id, meter_id) WHERE kind = 'usage';
