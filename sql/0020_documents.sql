-- Documents (api/documents.md): hosted invoice pages and stored PDFs.

-- Every invoice gets its page's token when it is made (drafts too, shown once finalized):
-- 128 random bits, base64url, made by the service. Invoices made before this migration
-- get theirs from PostgreSQL's strong random source: two UUIDs' fully random bytes (a v4
-- UUID's bytes 0-5 and 10-15 carry no version or variant bits).
ALTER TABLE invoices ADD COLUMN hosted_token text COLLATE "C";
ALTER TABLE invoices DISABLE TRIGGER invoices_settled_are_immutable;
UPDATE invoices SET hosted_token = rtrim(translate(encode(
    substr(uuid_send(gen_random_uuid()), 1, 6) || substr(uuid_send(gen_random_uuid()), 11, 6)
        || substr(uuid_send(gen_random_uuid()), 1, 4), 'base64'), '+/', '-_'), '=');
ALTER TABLE invoices ENABLE TRIGGER invoices_settled_are_immutable;
ALTER TABLE invoices ALTER COLUMN hosted_token SET NOT NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_hosted_token_form CHECK (hosted_token ~ '^[A-Za-z0-9_-]{22}$');
CREATE UNIQUE INDEX invoices_hosted_token ON invoices (hosted_token);

-- A finalized invoice's PDF is rendered once, at the first request, and the same bytes are
-- served ever after (a credit note's likewise). The first render to commit wins; a racing
-- render of the same document is discarded (ON CONFLICT DO NOTHING, then read back).
CREATE TABLE invoice_pdfs (
    invoice_id uuid PRIMARY KEY REFERENCES invoices (id),
    pdf bytea NOT NULL,
    rendered_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE credit_note_pdfs (
    credit_note_id uuid PRIMARY KEY REFERENCES credit_notes (id),
    pdf bytea NOT NULL,
    rendered_at timestamptz NOT NULL DEFAULT now()
);
-- Stored once, never changed: the application may add, never update or delete.
GRANT SELECT, INSERT ON invoice_pdfs, credit_note_pdfs TO billing_app;
