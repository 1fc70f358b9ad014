-- Queries of pgstore. Every read filters on expires_at, so an expired row is
-- never returned whether or not sess-gc has run.

-- name: GetSession :one
SELECT data, expires_at, created_at, user_id
FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: InsertSession :execrows
-- Creates a session. A dead (expired, not yet reaped) row with the same hash
-- is replaced; a live one is left alone and 0 rows are reported. Data whose
-- text form is longer than max_bytes (0: no limit) is not inserted either
-- (0 rows; DataSize tells the two apart).
INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id)
SELECT sqlc.arg(id_hash)::bytea, sqlc.arg(data)::jsonb, sqlc.arg(expires_at)::timestamptz,
       sqlc.arg(created_at)::timestamptz, sqlc.narg(user_id)::text
WHERE sqlc.arg(max_bytes)::integer = 0
   OR octet_length(sqlc.arg(data)::jsonb::text) <= sqlc.arg(max_bytes)::integer
ON CONFLICT (id_hash) DO UPDATE
SET data = EXCLUDED.data,
    expires_at = EXCLUDED.expires_at,
    created_at = EXCLUDED.created_at,
    user_id = EXCLUDED.user_id
WHERE http_sessions.expires_at <= sqlc.arg(now);

-- name: DataSize :one
-- The bytes data takes as jsonb text: what max_bytes limits.
SELECT octet_length(sqlc.arg(data)::jsonb::text)::integer;

-- name: MergeSession :execrows
-- Writes only what a request changed: removes deleted_keys, then overlays
-- the top-level keys of changed. Concurrent merges of different keys never
-- lose each other's writes (the row lock serialises them). The size limit
-- (max_bytes, 0: none) is checked on the merged data as jsonb stores it,
-- in the WHERE: a concurrent merge that committed first is re-checked
-- against the row it left, so no interleaving grows a row past the limit.
-- 0 rows: the session is gone, or the merge would be too large
-- (MergedSize tells the two apart).
UPDATE http_sessions
SET data = (data - sqlc.arg(deleted_keys)::text[]) || sqlc.arg(changed)::jsonb,
    expires_at = sqlc.arg(expires_at),
    user_id = CASE WHEN sqlc.arg(set_user)::boolean THEN sqlc.narg(user_id) ELSE user_id END
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now)
  AND (sqlc.arg(max_bytes)::integer = 0
       OR octet_length(((data - sqlc.arg(deleted_keys)::text[]) || sqlc.arg(changed)::jsonb)::text) <= sqlc.arg(max_bytes)::integer);

-- name: MergedSize :one
-- The size a merge would give a live session (as jsonb text); no row when
-- the session is gone.
SELECT octet_length(((data - sqlc.arg(deleted_keys)::text[]) || sqlc.arg(changed)::jsonb)::text)::integer
FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: TouchSession :execrows
UPDATE http_sessions
SET expires_at = sqlc.arg(expires_at)
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: DeleteSession :execrows
DELETE FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash);

-- name: DeleteUserSessions :execrows
DELETE FROM http_sessions
WHERE user_id = sqlc.arg(user_id)::text;

-- name: ListUserSessions :many
SELECT id_hash, data, expires_at, created_at
FROM http_sessions
WHERE user_id = sqlc.arg(user_id)::text AND expires_at > sqlc.arg(now)
ORDER BY created_at DESC, id_hash;

-- name: DeleteExpiredBatch :execrows
-- One batch of the reaper. It walks the expires_bucket index (migration
-- 00002; the bound repeats the column's expression) and checks expires_at
-- exactly. SKIP LOCKED lets several reapers (one per host) run at once:
-- each takes rows no other is deleting, none waits.
DELETE FROM http_sessions
WHERE id_hash IN (
    SELECT dead.id_hash
    FROM http_sessions AS dead
    WHERE dead.expires_bucket <= date_bin('15 minutes', sqlc.arg(before)::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00')
      AND dead.expires_at <= sqlc.arg(before)
    ORDER BY dead.expires_bucket
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
);

-- name: CountExpired :one
SELECT count(*) FROM http_sessions
WHERE expires_bucket <= date_bin('15 minutes', sqlc.arg(before)::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00')
  AND expires_at <= sqlc.arg(before);

-- name: CountLive :one
SELECT count(*) FROM http_sessions
WHERE expires_at > sqlc.arg(now);

-- name: ProbeTable :exec
-- Fails when the table is missing, or is not sqlsession's: a column is
-- missing (another library's table, or one not migrated to 00002) or has
-- another type. Reads no row, whatever the table's size.
SELECT id_hash, created_at, user_id
FROM http_sessions
WHERE id_hash = ''::bytea
  AND jsonb_typeof(data) = 'object'
  AND expires_at <= now()
  AND expires_bucket <= now()
  AND user_id = ''::text
LIMIT 0;
