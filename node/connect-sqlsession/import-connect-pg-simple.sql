-- Copy the live sessions of connect-pg-simple's table into sqlsession's
-- http_sessions (run sqlsession's migrations first). PostgreSQL 11+; no
-- extension needed (sha256 is built in).
--
--   psql "$DATABASE_URL" -f import-connect-pg-simple.sql
--
-- Before running, adjust to your setup:
--   - "session": connect-pg-simple's table (its tableName / schemaName options);
--   - 'user': the session key that names the user (connect-sqlsession's
--     userKey); it fills user_id when its value is a string or a number.
-- Both tables are found through search_path; schema-qualify them if needed.
--
-- id_hash is SHA-256 of the sid as UTF-8, as Go and connect-sqlsession
-- compute it, so the cookies express already issued keep working.
-- expire is a timestamp without time zone that connect-pg-simple wrote in
-- the session's TimeZone; run this with the same TimeZone setting.
-- created_at is the time of the copy (connect-pg-simple does not record
-- one): sqlsession's AbsoluteTimeout counts from the copy.
-- Expired rows and rows whose sess is not a JSON object are skipped; a
-- session already in http_sessions is left alone, so the copy can be run
-- again (e.g. right after switching the store) to pick up sessions created
-- in between.
--
-- Rows jsonb cannot hold are skipped and reported, and the rest copied:
-- connect-pg-simple's json column keeps any text, but jsonb refuses a
-- \u0000 and an unpaired surrogate (\ud800) anywhere in sess, and any
-- visitor can put one there. The last statement prints how many rows were
-- copied and skipped; the skipped ones are listed by id_hash (never the
-- sid) in the table http_sessions_import_rejects, which each run rebuilds
-- and drops again when nothing was skipped. Find them with
--   SELECT s.* FROM "session" AS s JOIN http_sessions_import_rejects AS r
--     ON r.id_hash = sha256(convert_to(s.sid, 'UTF8'));

-- sess as jsonb, or NULL when jsonb refuses it. Only for the rows that hold
-- a \u escape (the only way to write what jsonb refuses), so the others
-- take no subtransaction.
CREATE OR REPLACE FUNCTION pg_temp.sqlsession_import_jsonb(sess text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN sess::jsonb;
EXCEPTION WHEN data_exception THEN
  RETURN NULL;
END
$fn$;

DROP TABLE IF EXISTS http_sessions_import_rejects;
CREATE TABLE http_sessions_import_rejects (
  id_hash bytea PRIMARY KEY, -- sha256(convert_to(sid, 'UTF8')), as http_sessions.id_hash
  expire  timestamptz NOT NULL
);

-- The live sessions, with sess as jsonb (NULL: jsonb refuses it), in a
-- temporary table: one statement per target table below, which a
-- distributed Postgres (Citus) runs where a single statement writing both
-- fails.
DROP TABLE IF EXISTS pg_temp.sqlsession_import_src;
CREATE TEMPORARY TABLE sqlsession_import_src AS
SELECT sha256(convert_to(s.sid, 'UTF8')) AS id_hash,
       s.expire::timestamptz AS expire,
       CASE WHEN strpos(s.sess::text, '\u') = 0 THEN s.sess::jsonb
            ELSE pg_temp.sqlsession_import_jsonb(s.sess::text) END AS data
FROM "session" AS s
WHERE s.expire::timestamptz > now();

INSERT INTO http_sessions_import_rejects (id_hash, expire)
SELECT src.id_hash, src.expire FROM sqlsession_import_src AS src WHERE src.data IS NULL
ON CONFLICT (id_hash) DO NOTHING;

WITH copied AS (
  INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
  SELECT src.id_hash, src.data, src.expire, now(),
         CASE WHEN jsonb_typeof(src.data -> 'user') IN ('string', 'number') THEN NULLIF(src.data -> 'user' #>> '{}', '') END
  FROM sqlsession_import_src AS src
  WHERE jsonb_typeof(src.data) = 'object'
  ON CONFLICT (id_hash) DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM copied) AS copied,
       (SELECT count(*) FROM http_sessions_import_rejects) AS skipped_unstorable;

DROP TABLE sqlsession_import_src;

DO $report$
DECLARE
  n bigint;
BEGIN
  SELECT count(*) INTO n FROM http_sessions_import_rejects;
  IF n = 0 THEN
    DROP TABLE http_sessions_import_rejects;
  ELSE
    RAISE WARNING 'import-connect-pg-simple: % live session(s) not copied: their sess holds \u0000 or an unpaired surrogate, which jsonb cannot store; their id_hash is in table http_sessions_import_rejects', n;
  END IF;
END
$report$;
