-- Queries of sqlitestore. Times are unix milliseconds. Every read filters on
-- expires_at, so an expired row is never returned whether or not sess-gc has
-- run.

-- name: GetSession :one
SELECT data, expires_at, created_at, CAST(COALESCE(user_id, '') AS TEXT) AS user_id
FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: DeleteDeadSession :exec
-- First statement of Create's transaction: clears an expired, not yet
-- reaped row with the same hash, so InsertSession can replace it.
DELETE FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at <= sqlc.arg(now);

-- name: InsertSession :execrows
-- Creates a session; a live row with the same hash is left alone and 0 rows
-- are reported. (sqlc's SQLite engine does not rewrite parameters inside an
-- upsert's WHERE, hence DeleteDeadSession instead of DO UPDATE ... WHERE.)
INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id, last_seen_at, ip, user_agent)
VALUES (sqlc.arg(id_hash), sqlc.arg(data), sqlc.arg(expires_at), sqlc.arg(created_at), NULLIF(CAST(sqlc.arg(user_id) AS TEXT), ''),
        sqlc.narg(last_seen_at), NULLIF(CAST(sqlc.arg(ip) AS TEXT), ''), NULLIF(CAST(sqlc.arg(user_agent) AS TEXT), ''))
ON CONFLICT (id_hash) DO NOTHING;

-- name: LockSession :execrows
-- First statement of a merge transaction: a write, so the transaction holds
-- SQLite's write lock before it reads (no stale snapshot, no lost update),
-- whatever the driver's default transaction mode.
UPDATE http_sessions
SET expires_at = expires_at
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: GetSessionData :one
SELECT data, expires_at FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash);

-- name: UpdateSession :exec
UPDATE http_sessions
SET data = sqlc.arg(data),
    expires_at = sqlc.arg(expires_at),
    user_id = CASE WHEN CAST(sqlc.arg(set_user) AS BOOLEAN) THEN NULLIF(CAST(sqlc.arg(user_id) AS TEXT), '') ELSE user_id END,
    last_seen_at = CASE WHEN CAST(sqlc.arg(set_device) AS BOOLEAN) THEN sqlc.arg(last_seen_at) ELSE last_seen_at END,
    ip = CASE WHEN CAST(sqlc.arg(set_device) AS BOOLEAN) THEN NULLIF(CAST(sqlc.arg(ip) AS TEXT), '') ELSE ip END,
    user_agent = CASE WHEN CAST(sqlc.arg(set_device) AS BOOLEAN) THEN NULLIF(CAST(sqlc.arg(user_agent) AS TEXT), '') ELSE user_agent END
WHERE id_hash = sqlc.arg(id_hash);

-- name: TouchSession :execrows
UPDATE http_sessions
SET expires_at = sqlc.arg(expires_at),
    last_seen_at = CASE WHEN CAST(sqlc.arg(set_device) AS BOOLEAN) THEN sqlc.arg(last_seen_at) ELSE last_seen_at END,
    ip = CASE WHEN CAST(sqlc.arg(set_device) AS BOOLEAN) THEN NULLIF(CAST(sqlc.arg(ip) AS TEXT), '') ELSE ip END,
    user_agent = CASE WHEN CAST(sqlc.arg(set_device) AS BOOLEAN) THEN NULLIF(CAST(sqlc.arg(user_agent) AS TEXT), '') ELSE user_agent END
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: DeleteSession :one
-- Returns the deleted row's expiry, so the store can say whether it was live.
DELETE FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash)
RETURNING expires_at;

-- name: TakeSession :one
-- First statement of Rekey's transaction (a write, so it takes the write
-- lock): deletes the row under its old hash and returns it, for
-- InsertSession to insert under the new one.
DELETE FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash)
RETURNING data, expires_at, created_at, user_id, last_seen_at, ip, user_agent;

-- name: DeleteUserSessions :execrows
-- Every session of the user but the one named by keep (if any).
DELETE FROM http_sessions
WHERE user_id = CAST(sqlc.arg(user_id) AS TEXT) AND id_hash <> sqlc.arg(keep);

-- name: EvictUserSessions :execrows
-- The per-user cap: deletes the user's sessions beyond the keep_others
-- newest, never keep itself (the session being saved).
DELETE FROM http_sessions
WHERE http_sessions.user_id = CAST(sqlc.arg(user_id) AS TEXT) AND http_sessions.id_hash <> sqlc.arg(keep)
  AND http_sessions.id_hash NOT IN (
    SELECT newest.id_hash FROM http_sessions AS newest
    WHERE newest.user_id = CAST(sqlc.arg(user_id) AS TEXT) AND newest.id_hash <> sqlc.arg(keep)
      AND newest.expires_at > sqlc.arg(now)
    ORDER BY newest.created_at DESC, newest.id_hash
    LIMIT sqlc.arg(keep_others));

-- name: ListUserSessions :many
SELECT id_hash, data, expires_at, created_at, last_seen_at, CAST(COALESCE(ip, '') AS TEXT) AS ip, CAST(COALESCE(user_agent, '') AS TEXT) AS user_agent
FROM http_sessions
WHERE user_id = CAST(sqlc.arg(user_id) AS TEXT) AND expires_at > sqlc.arg(now)
ORDER BY created_at DESC, id_hash;

-- name: DeleteExpiredBatch :execrows
-- One batch of the reaper; SQLite has a single writer, so no SKIP LOCKED is
-- needed (or available).
DELETE FROM http_sessions
WHERE id_hash IN (
    SELECT dead.id_hash
    FROM http_sessions AS dead
    WHERE dead.expires_at <= sqlc.arg(before)
    ORDER BY dead.expires_at
    LIMIT sqlc.arg(batch_size)
);

-- name: CountExpired :one
SELECT count(*) FROM http_sessions
WHERE expires_at <= sqlc.arg(before);

-- name: ProbeTable :exec
-- Fails when the table is missing, or lacks a column of sqlsession's
-- (another library's table). Reads no row, whatever the table's size.
SELECT id_hash, data, expires_at, created_at, user_id, last_seen_at, ip, user_agent FROM http_sessions LIMIT 0;

-- name: InsertRetired :exec
-- Last statement of Rekey's transaction when the old id is kept as retired.
INSERT INTO http_sessions_retired (id_hash, successor, user_id, grace_until, expires_at, sealed)
VALUES (sqlc.arg(id_hash), sqlc.arg(successor), sqlc.narg(user_id), sqlc.arg(grace_until), sqlc.arg(expires_at), sqlc.narg(sealed))
ON CONFLICT (id_hash) DO UPDATE
SET successor = excluded.successor,
    user_id = excluded.user_id,
    grace_until = excluded.grace_until,
    expires_at = excluded.expires_at,
    sealed = excluded.sealed;

-- name: GetRetired :one
SELECT successor, CAST(COALESCE(user_id, '') AS TEXT) AS user_id, grace_until, expires_at, sealed
FROM http_sessions_retired
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: DeleteExpiredRetired :execrows
DELETE FROM http_sessions_retired
WHERE id_hash IN (
    SELECT old.id_hash FROM http_sessions_retired AS old
    WHERE old.expires_at <= sqlc.arg(before)
    LIMIT sqlc.arg(batch_size));
