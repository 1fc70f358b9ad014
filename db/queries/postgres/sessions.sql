-- Queries of pgstore. Every read filters on expires_at, so an expired row is
-- never returned whether or not sess-gc has run.

-- name: GetSession :one
-- A session as of the Manager's clock (a custom Options.Now).
SELECT data::text AS data, expires_at, created_at, COALESCE(user_id, '')::text AS user_id
FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: GetSessionNow :one
-- The read of every request on the real clock: the database's, so the
-- statement carries no timestamp parameter to encode. data comes as text:
-- pgx scans text without building a JSON scan plan per row.
SELECT data::text AS data, expires_at, created_at, COALESCE(user_id, '')::text AS user_id
FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > now();

-- name: InsertNewSession :exec
-- Creates a session: the plain INSERT … VALUES of a login (one shard on
-- Citus). A row with the same hash fails it with 23505 (unique_violation);
-- only then does Store.Create run InsertSession, which replaces a dead row.
-- ON CONFLICT's speculative insertion would cost every login server CPU
-- for a case that random ids never meet.
INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id, last_seen_at, ip, user_agent)
VALUES (sqlc.arg(id_hash)::bytea, sqlc.arg(data)::jsonb, sqlc.arg(expires_at)::timestamptz,
        sqlc.arg(created_at)::timestamptz, NULLIF(sqlc.arg(user_id)::text, ''),
        sqlc.narg(last_seen_at)::timestamptz, NULLIF(sqlc.arg(ip)::text, ''), NULLIF(sqlc.arg(user_agent)::text, ''));

-- name: InsertNewAnonymousSession :exec
-- InsertNewSession for a session with no user and no device record (most
-- new sessions): four parameters instead of eight, which spares the
-- server 2-2.5 µs of CPU per login (BenchmarkStatementCPU, BENCHMARKS.md).
INSERT INTO http_sessions (id_hash, data, expires_at, created_at)
VALUES (sqlc.arg(id_hash)::bytea, sqlc.arg(data)::jsonb, sqlc.arg(expires_at)::timestamptz,
        sqlc.arg(created_at)::timestamptz);

-- name: InsertSession :execrows
-- Creates a session. A dead (expired, not yet reaped) row with the same hash
-- is replaced; a live one is left alone and 0 rows are reported. It is an
-- INSERT … VALUES, so that Citus routes it to the shard of id_hash (an
-- INSERT … SELECT is pulled to the coordinator, and fails there); the size
-- limit is checked before it (Store.Create, with DataSize when needed).
INSERT INTO http_sessions (id_hash, data, expires_at, created_at, user_id, last_seen_at, ip, user_agent)
VALUES (sqlc.arg(id_hash)::bytea, sqlc.arg(data)::jsonb, sqlc.arg(expires_at)::timestamptz,
        sqlc.arg(created_at)::timestamptz, NULLIF(sqlc.arg(user_id)::text, ''),
        sqlc.narg(last_seen_at)::timestamptz, NULLIF(sqlc.arg(ip)::text, ''), NULLIF(sqlc.arg(user_agent)::text, ''))
ON CONFLICT (id_hash) DO UPDATE
SET data = EXCLUDED.data,
    expires_at = EXCLUDED.expires_at,
    created_at = EXCLUDED.created_at,
    user_id = EXCLUDED.user_id,
    last_seen_at = EXCLUDED.last_seen_at,
    ip = EXCLUDED.ip,
    user_agent = EXCLUDED.user_agent
WHERE http_sessions.expires_at <= sqlc.arg(now);

-- name: DataSize :one
-- The bytes data takes as jsonb text: what max_bytes limits.
SELECT octet_length(sqlc.arg(data)::jsonb::text)::integer;

-- name: MergeData :execrows
-- The common write: a request changed values and perhaps extended the
-- expiry (forward only), nothing else: no user, device or lifetime, so
-- no other column is named and no CASE is evaluated. Same merge as
-- MergeSession, with a cheaper size check: budget is the limit less an
-- upper bound of what the change can add (Store.Update computes it), so a
-- row whose current data fits the budget surely fits the limit after the
-- merge, and the merged data is never measured. A negative budget: no limit.
-- The check is on the row the UPDATE writes (re-checked on the newest
-- version when a concurrent merge committed first), so it is as atomic as
-- MergeSession's. 0 rows: the session is gone, or its data is over the
-- budget; Store.Update then runs MergeSession, which tells them apart.
UPDATE http_sessions
SET data = (data - COALESCE(sqlc.narg(deleted_keys)::text[], '{}')) || sqlc.arg(changed)::jsonb,
    expires_at = GREATEST(expires_at, sqlc.narg(expires_at)::timestamptz)
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now)
  AND (sqlc.arg(budget)::integer < 0 OR octet_length(data::text) <= sqlc.arg(budget)::integer);

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
SET data = (data - COALESCE(sqlc.narg(deleted_keys)::text[], '{}')) || sqlc.arg(changed)::jsonb,
    expires_at = CASE WHEN sqlc.arg(lifetime)::boolean THEN sqlc.narg(expires_at)::timestamptz
                      ELSE GREATEST(expires_at, sqlc.narg(expires_at)::timestamptz) END,
    user_id = CASE WHEN sqlc.arg(set_user)::boolean THEN NULLIF(sqlc.arg(user_id)::text, '') ELSE user_id END,
    last_seen_at = CASE WHEN sqlc.arg(set_device)::boolean THEN sqlc.narg(last_seen_at)::timestamptz ELSE last_seen_at END,
    ip = CASE WHEN sqlc.arg(set_device)::boolean THEN NULLIF(sqlc.arg(ip)::text, '') ELSE ip END,
    user_agent = CASE WHEN sqlc.arg(set_device)::boolean THEN NULLIF(sqlc.arg(user_agent)::text, '') ELSE user_agent END
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now)
  AND (sqlc.arg(max_bytes)::integer = 0
       OR octet_length(((data - COALESCE(sqlc.narg(deleted_keys)::text[], '{}')) || sqlc.arg(changed)::jsonb)::text) <= sqlc.arg(max_bytes)::integer
       OR octet_length(((data - COALESCE(sqlc.narg(deleted_keys)::text[], '{}')) || sqlc.arg(changed)::jsonb)::text) <= octet_length(data::text) + sqlc.arg(reserve)::integer);

-- name: MergedSize :one
-- The size a merge would give a live session, and the size it has (as
-- jsonb text); no row when the session is gone.
SELECT octet_length(((data - sqlc.arg(deleted_keys)::text[]) || sqlc.arg(changed)::jsonb)::text)::integer AS merged,
       octet_length(data::text)::integer AS current
FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: TouchSession :execrows
-- Moves the expiry and, with set_device, records the client: none of these
-- columns is indexed, so a touch within the expiry bucket stays HOT.
UPDATE http_sessions
SET expires_at = sqlc.arg(expires_at),
    last_seen_at = CASE WHEN sqlc.arg(set_device)::boolean THEN sqlc.narg(last_seen_at)::timestamptz ELSE last_seen_at END,
    ip = CASE WHEN sqlc.arg(set_device)::boolean THEN NULLIF(sqlc.arg(ip)::text, '') ELSE ip END,
    user_agent = CASE WHEN sqlc.arg(set_device)::boolean THEN NULLIF(sqlc.arg(user_agent)::text, '') ELSE user_agent END
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: DeleteSession :one
-- Returns the deleted row's expiry, so the store can say whether it was live.
DELETE FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash)
RETURNING expires_at;

-- name: TakeSession :one
-- First statement of Rekey's transaction: deletes the row under its old
-- hash and returns it, for InsertSession to insert under the new one. Both
-- statements name one id_hash, so each is a single-shard statement on a
-- distributed table.
DELETE FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash)
RETURNING data, expires_at, created_at, user_id, last_seen_at, ip, user_agent;

-- name: DeleteUserSessions :execrows
-- Every session of the user but the one named by keep (if any): "log out
-- everywhere" and "log out my other devices".
DELETE FROM http_sessions
WHERE user_id = sqlc.arg(user_id)::text AND id_hash <> sqlc.arg(keep)::bytea;

-- name: LockUser :exec
-- Serialises the writes that give one user a session, for the per-user cap.
SELECT pg_advisory_xact_lock(hashtextextended('sqlsession user ' || sqlc.arg(user_id)::text, 0));

-- name: EvictUserSessions :execrows
-- The per-user cap: deletes the user's sessions beyond the keep_others
-- newest, never keep itself (the session being saved).
DELETE FROM http_sessions
WHERE user_id = sqlc.arg(user_id)::text AND id_hash <> sqlc.arg(keep)::bytea
  AND id_hash NOT IN (
    SELECT newest.id_hash FROM http_sessions AS newest
    WHERE newest.user_id = sqlc.arg(user_id)::text AND newest.id_hash <> sqlc.arg(keep)::bytea
      AND newest.expires_at > sqlc.arg(now)
    ORDER BY newest.created_at DESC, newest.id_hash
    LIMIT sqlc.arg(keep_others)::integer);

-- name: ListUserSessions :many
SELECT id_hash, data, expires_at, created_at, last_seen_at, COALESCE(ip, '')::text AS ip, COALESCE(user_agent, '')::text AS user_agent
FROM http_sessions
WHERE user_id = sqlc.arg(user_id)::text AND expires_at > sqlc.arg(now)
ORDER BY created_at DESC, id_hash;

-- name: DeleteExpiredBatch :execrows
-- One batch of the reaper. It walks the expires_bucket index (migration
-- 00002; the bound repeats the column's expression), checks expires_at
-- exactly, and deletes the rows it locked by their ctid (no second lookup
-- through the primary key). SKIP LOCKED lets several reapers (one per
-- host) run at once: each takes rows no other is deleting, none waits.
DELETE FROM http_sessions
WHERE ctid = ANY (ARRAY(
    SELECT dead.ctid
    FROM http_sessions AS dead
    WHERE dead.expires_bucket <= date_bin('15 minutes', sqlc.arg(before)::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00')
      AND dead.expires_at <= sqlc.arg(before)
    ORDER BY dead.expires_bucket
    LIMIT sqlc.arg(batch_size)
    FOR UPDATE SKIP LOCKED
));

-- name: DeleteExpiredBatchByKey :execrows
-- One batch of the reaper on Citus, where ctid means nothing across shards
-- and FOR UPDATE SKIP LOCKED is refused on a distributed table. The
-- sub-select picks the batch (each shard its oldest expired rows from the
-- expires_bucket index, the coordinator the batch_size oldest of those),
-- then every shard deletes its picked rows through the primary key,
-- checking expires_at again: a row touched since it was picked stays.
-- Batches are exact; a concurrent reaper that picked the same rows waits
-- for them and then finds them gone (it shares no work, it does no harm).
DELETE FROM http_sessions
WHERE id_hash = ANY (ARRAY(
    SELECT dead.id_hash
    FROM http_sessions AS dead
    WHERE dead.expires_bucket <= date_bin('15 minutes', sqlc.arg(before)::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00')
      AND dead.expires_at <= sqlc.arg(before)::timestamptz
    ORDER BY dead.expires_bucket
    LIMIT sqlc.arg(batch_size)::integer
))
  AND expires_at <= sqlc.arg(before)::timestamptz;

-- name: WALInsertPosition :one
-- The server's WAL insert position in bytes, read around each batch of a
-- reaping run paced by a WAL budget (sessions.ReapOptions.WALRate).
SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS position;

-- name: IsCitus :one
-- Whether the database has the Citus extension (pgstore then reaps with
-- DeleteExpiredBatchByKey).
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus');

-- name: CountExpired :one
SELECT count(*) FROM http_sessions
WHERE expires_bucket <= date_bin('15 minutes', sqlc.arg(before)::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00')
  AND expires_at <= sqlc.arg(before);

-- name: CountLive :one
SELECT count(*) FROM http_sessions
WHERE expires_at > sqlc.arg(now);

-- name: ProbeTable :exec
-- Fails when the table is missing, or is not sqlsession's: a column is
-- missing (another library's table, or one not migrated to 00003) or has
-- another type. Reads no row, whatever the table's size.
SELECT id_hash, created_at, user_id, last_seen_at, ip, user_agent
FROM http_sessions
WHERE id_hash = ''::bytea
  AND jsonb_typeof(data) = 'object'
  AND expires_at <= now()
  AND expires_bucket <= now()
  AND user_id = ''::text
LIMIT 0;

-- name: InsertRetired :exec
-- Third statement of Rekey's transaction when the old id is kept as
-- retired (RenewGrace): keyed by the old id's hash, like TakeSession, so a
-- single-shard statement on a table distributed (and colocated) by id_hash.
INSERT INTO http_sessions_retired (id_hash, successor, user_id, grace_until, expires_at, sealed)
VALUES (sqlc.arg(id_hash), sqlc.arg(successor), sqlc.narg(user_id), sqlc.arg(grace_until), sqlc.arg(expires_at), sqlc.narg(sealed))
ON CONFLICT (id_hash) DO UPDATE
SET successor = EXCLUDED.successor,
    user_id = EXCLUDED.user_id,
    grace_until = EXCLUDED.grace_until,
    expires_at = EXCLUDED.expires_at,
    sealed = EXCLUDED.sealed;

-- name: GetRetired :one
-- A retired id, read only when a cookie names no live session.
SELECT successor, COALESCE(user_id, '')::text AS user_id, grace_until, expires_at, sealed
FROM http_sessions_retired
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);

-- name: DeleteExpiredRetired :execrows
-- The reaper's batch of retired ids; an outer re-check keeps it exact.
DELETE FROM http_sessions_retired
WHERE id_hash = ANY (ARRAY(
    SELECT old.id_hash FROM http_sessions_retired AS old
    WHERE old.expires_at <= sqlc.arg(before)
    LIMIT sqlc.arg(batch_size)))
  AND expires_at <= sqlc.arg(before);
