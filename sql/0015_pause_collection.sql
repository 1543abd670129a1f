-- Pausing collection (time.md): while paused, periods still advance and the invoices made
-- are voided, kept as drafts or marked uncollectible at once; no dunning runs. The run ends
-- the pause at `pause_resumes_at` once every period begun before it has been invoiced.
ALTER TABLE subscriptions
    ADD COLUMN pause_behavior text CHECK (pause_behavior IN ('void', 'keep_as_draft', 'mark_uncollectible')),
    ADD COLUMN pause_resumes_at timestamptz,
    ADD CHECK (pause_resumes_at IS NULL OR pause_behavior IS NOT NULL);
CREATE INDEX subscriptions_pause_resumes ON subscriptions (pause_resumes_at) WHERE pause_resumes_at IS NOT NULL;
