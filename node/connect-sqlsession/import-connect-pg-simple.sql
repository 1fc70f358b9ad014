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
INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
SELECT sha256(convert_to(s.sid, 'UTF8')),
       s.sess::jsonb,
       s.expire::timestamptz,
       now(),
       CASE WHEN jsonb_typeof(u.v) IN ('string', 'number') THEN NULLIF(u.v #>> '{}', '') END
FROM "session" AS s
CROSS JOIN LATERAL (SELECT s.sess::jsonb -> 'user' AS v) AS u
WHERE s.expire::timestamptz > now()
  AND jsonb_typeof(s.sess::jsonb) = 'object'
ON CONFLICT (id_hash) DO NOTHING;
