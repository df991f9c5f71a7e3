-- SPDX-License-Identifier: MIT
-- inboxq schema, version 13: names of accounts, Network Connectors, credentials and report
-- schedules are stored composed (Unicode NFC, whoever writes them) and are unique ignoring case
-- and character width: "ＡＢＣ" (full-width), "ABC" and "abc" are one name, and so are
-- "São" typed composed or decomposed. The key is lower(normalize(name, NFKC)), the expression
-- the programs look names up by (IQ_NAME_KEY in lib/domain/rules.h). Invisible and
-- text-direction characters are refused before any write (iq_validate_name).
DO $$
DECLARE
    dup text;
BEGIN
    SELECT string_agg(format('%s: %s', t, names), '; ') INTO dup FROM (
        SELECT 'mail_accounts' AS t, string_agg(quote_literal(name), ', ') AS names
          FROM mail_accounts GROUP BY lower(normalize(name, NFKC)) HAVING count(*) > 1
        UNION ALL
        SELECT 'network_connectors', string_agg(quote_literal(name), ', ')
          FROM network_connectors GROUP BY lower(normalize(name, NFKC)) HAVING count(*) > 1
        UNION ALL
        SELECT 'credentials', string_agg(quote_literal(name), ', ')
          FROM credentials GROUP BY lower(normalize(name, NFKC)) HAVING count(*) > 1
        UNION ALL
        SELECT 'report_schedules', string_agg(quote_literal(name), ', ')
          FROM report_schedules GROUP BY lower(normalize(name, NFKC)) HAVING count(*) > 1
    ) d;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'names that differ only in case or character width: %', dup
            USING HINT = 'rename one of each pair (inboxq account edit ID --name ...), then run inboxq migrate again';
    END IF;
END $$;

CREATE FUNCTION iq_name_nfc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := normalize(NEW.name, NFC);
    RETURN NEW;
END $$;

UPDATE mail_accounts SET name = normalize(name, NFC) WHERE name IS NOT NFC NORMALIZED;
UPDATE network_connectors SET name = normalize(name, NFC) WHERE name IS NOT NFC NORMALIZED;
UPDATE credentials SET name = normalize(name, NFC) WHERE name IS NOT NFC NORMALIZED;
UPDATE report_schedules SET name = normalize(name, NFC) WHERE name IS NOT NFC NORMALIZED;

DROP INDEX mail_accounts_name_ci;
DROP INDEX network_connectors_name_ci;
DROP INDEX credentials_name_ci;
DROP INDEX report_schedules_name_ci;
CREATE UNIQUE INDEX mail_accounts_name_ci ON mail_accounts (lower(normalize(name, NFKC)));
CREATE UNIQUE INDEX network_connectors_name_ci ON network_connectors (lower(normalize(name, NFKC)));
CREATE UNIQUE INDEX credentials_name_ci ON credentials (lower(normalize(name, NFKC)));
CREATE UNIQUE INDEX report_schedules_name_ci ON report_schedules (lower(normalize(name, NFKC)));

CREATE TRIGGER mail_accounts_name_nfc BEFORE INSERT OR UPDATE OF name ON mail_accounts
    FOR EACH ROW EXECUTE FUNCTION iq_name_nfc();
CREATE TRIGGER network_connectors_name_nfc BEFORE INSERT OR UPDATE OF name ON network_connectors
    FOR EACH ROW EXECUTE FUNCTION iq_name_nfc();
CREATE TRIGGER credentials_name_nfc BEFORE INSERT OR UPDATE OF name ON credentials
    FOR EACH ROW EXECUTE FUNCTION iq_name_nfc();
CREATE TRIGGER report_schedules_name_nfc BEFORE INSERT OR UPDATE OF name ON report_schedules
    FOR EACH ROW EXECUTE FUNCTION iq_name_nfc();
