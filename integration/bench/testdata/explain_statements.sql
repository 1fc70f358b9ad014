-- EXPLAIN (ANALYZE, BUFFERS, WAL) of pgstore's login INSERT and merge
-- UPDATE (the shapes of InsertNewAnonymousSession and MergeData) and of the
-- ceiling's merge, on http_sessions as the migrations leave it, in a schema
-- of its own that the script drops at the end (BENCHMARKS.md, "the table,
-- part by part"). Run:
--   psql -X -q -h 127.0.0.1 -U postgres test -f integration/bench/testdata/explain_statements.sql
CREATE SCHEMA sqlsession_explain; SET search_path = sqlsession_explain;
CREATE TABLE http_sessions (id_hash bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32), data jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
  expires_at timestamptz NOT NULL, created_at timestamptz NOT NULL, user_id text, last_seen_at timestamptz, ip text, user_agent text,
  expires_bucket timestamptz NOT NULL GENERATED ALWAYS AS (date_bin('15 minutes', expires_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')) STORED) WITH (fillfactor = 85);
CREATE INDEX ON http_sessions (expires_bucket); CREATE INDEX ON http_sessions (user_id) WHERE user_id IS NOT NULL;
INSERT INTO http_sessions (id_hash, data, expires_at, created_at) SELECT sha256(i::text::bytea), '{"cookie":{"originalMaxAge":86400000,"expires":"2030-01-01T00:00:00.000Z","secure":false,"httpOnly":true,"path":"/"},"user":"u"}', now() + interval '1 day', now() FROM generate_series(1,1000) i;
VACUUM ANALYZE http_sessions; CHECKPOINT;
PREPARE ins(bytea, jsonb, timestamptz, timestamptz) AS INSERT INTO http_sessions (id_hash, data, expires_at, created_at) VALUES ($1, $2, $3, $4);
PREPARE mrg(text[], jsonb, timestamptz, bytea, timestamptz, integer) AS UPDATE http_sessions SET data = (data - COALESCE($1, '{}')) || $2, expires_at = GREATEST(expires_at, $3) WHERE id_hash = $4 AND expires_at > $5 AND ($6 < 0 OR octet_length(data::text) <= $6);
PREPARE ceil(bytea, jsonb) AS UPDATE http_sessions SET data = data || $2, expires_at = now() + interval '1 day' WHERE id_hash = $1 AND expires_at > now();
-- The first change of a page after the checkpoint logs a full-page image:
-- these warm the statements and the pages the merges use.
EXECUTE ins(sha256('w1'::bytea), '{"cookie":{"originalMaxAge":86400000,"expires":"2030-01-01T00:00:00.000Z","secure":false,"httpOnly":true,"path":"/"},"user":"u"}', now() + interval '1 day', now());
EXECUTE mrg(NULL, '{"n":1}', now() + interval '1 day', sha256('5'::bytea), now(), 65000);
EXECUTE ceil(sha256('6'::bytea), '{"n":1}');
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) EXECUTE ins(sha256('x1'::bytea), '{"cookie":{"originalMaxAge":86400000,"expires":"2030-01-01T00:00:00.000Z","secure":false,"httpOnly":true,"path":"/"},"user":"u"}', now() + interval '1 day', now());
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) EXECUTE ins(sha256('x2'::bytea), '{"cookie":{"originalMaxAge":86400000,"expires":"2030-01-01T00:00:00.000Z","secure":false,"httpOnly":true,"path":"/"},"user":"u"}', now() + interval '1 day', now());
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) EXECUTE ins(sha256('x3'::bytea), '{"user":"u"}', now() + interval '1 day', now());
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) EXECUTE mrg(NULL, '{"n":2}', now() + interval '1 day', sha256('5'::bytea), now(), 65000);
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) EXECUTE ceil(sha256('6'::bytea), '{"n":2}');
DROP SCHEMA sqlsession_explain CASCADE;
