-- SPDX-License-Identifier: MIT
-- inboxq schema, version 14: the accounts report's name filter ("contains", name ILIKE
-- '%text%', the console's and the CLI's) served by a trigram index instead of a scan of every
-- account (313 ms p95 at 100,000 accounts before; see bench/results/console-*.md).
-- pg_trgm ships with PostgreSQL's contrib (Debian's postgresql-15 has it) and is a trusted
-- extension (PostgreSQL 13+): the database's owner may create it without being a superuser.
-- When the role that migrates may not (no CREATE on the database) or the contrib files are
-- missing, the migration still succeeds, without the index, and says what to run; the filter
-- gives the same answers, only slower on large installations.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE WARNING 'inboxq: pg_trgm is not available (%); the accounts name filter works without its index but scans every account', SQLERRM
        USING HINT = 'as a superuser, run in this database: CREATE EXTENSION pg_trgm; '
                     'CREATE INDEX mail_accounts_name_trgm ON mail_accounts USING gin (name gin_trgm_ops);';
END $$;

DO $$
DECLARE
    ext_schema name;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS mail_accounts_name_trgm ON mail_accounts '
                       'USING gin (name %I.gin_trgm_ops)', ext_schema);
    END IF;
END $$;
