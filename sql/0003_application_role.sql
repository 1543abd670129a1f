-- Least privilege: the service connects as billing_app, which may read and write the
-- service's rows but owns nothing and can change no schema. Migrations run as the owner.
-- The role is created without LOGIN; each deployment enables it (scripts/stack.sh does
-- locally, with a password where the server asks for one).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'billing_app') THEN
        CREATE ROLE billing_app NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO billing_app;
GRANT SELECT, INSERT, UPDATE ON customers, plans, subscriptions, invoices, invoice_lines, invoice_number_counter,
    api_keys TO billing_app;
GRANT SELECT, INSERT ON events TO billing_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO billing_app;
GRANT SELECT ON schema_migrations TO billing_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO billing_app;
