-- A line's invoice is checked when the transaction commits rather than at each INSERT:
-- the billing run writes a batch's lines before it takes the invoice-number counter's row
-- lock (which every transaction that makes invoices waits for) and the invoices, whose
-- numbers come from that counter, after; the lock is then held for less work. A line
-- without its invoice still never commits.
ALTER TABLE invoice_lines ALTER CONSTRAINT invoice_lines_invoice_id_fkey DEFERRABLE INITIALLY DEFERRED;
