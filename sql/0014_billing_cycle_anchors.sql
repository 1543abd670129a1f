-- Plans billed on the calendar (time.md): every new subscription anchored on the start of
-- the next calendar month, week or year in its customer's time zone.
ALTER TABLE plans ADD COLUMN billing_cycle text NOT NULL DEFAULT 'anniversary'
    CHECK (billing_cycle IN ('anniversary', 'calendar'));
