-- No JIT compilation for this database's sessions. The service's statements are short and
-- planned once per connection; a batch statement whose row estimates are off (a CTE over a
-- table never analyzed, such as the one-row invoice-number counter) crosses jit_above_cost
-- and spends its time compiling: measured 455 ms of a 468 ms statement inserting 500
-- invoices, 33 ms without. Takes effect for new sessions.
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); END $$;
