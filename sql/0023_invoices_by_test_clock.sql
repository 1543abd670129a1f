-- A test clock's open invoices by due date, for the steps of its advances (time.md): the
-- next due date or end of grace after a step, and the invoices past their grace. Through
-- the open invoices' index on `due_at` alone, a step read every other clock's invoices due
-- at the same instants before its own (clocks made for tests share their dates): 2 ms a
-- step with one other such clock, 8 ms with two, on the advance's critical path. The
-- column copies the customer's clock (which never changes), as the events' does; invoices
-- of customers on no clock leave it null and add nothing to the index.
ALTER TABLE invoices ADD COLUMN test_clock_id uuid;

ALTER TABLE invoices DISABLE TRIGGER invoices_settled_are_immutable;
UPDATE invoices i SET test_clock_id = c.test_clock_id FROM customers c
WHERE c.id = i.customer_id AND c.test_clock_id IS NOT NULL;
ALTER TABLE invoices ENABLE TRIGGER invoices_settled_are_immutable;

CREATE INDEX invoices_test_clock_open_due ON invoices (test_clock_id, due_at)
    WHERE status = 'open' AND test_clock_id IS NOT NULL;
