-- name: SwapValue :execrows
-- pgstore's SwapValue (sessions.Update), a compare-and-swap of one
-- top-level key; with CurrentValue, it names one id_hash (a single-shard
-- statement on a distributed table) and takes the Manager's clock.
-- Stores new_value under key when the key's value equals old_value as jsonb
-- (jsonb equality: spacing and key order aside), or old_value is NULL and
-- the key is absent (data -> key is then NULL too). Under READ COMMITTED a
-- concurrent swap that committed first makes this one re-check its WHERE
-- on the row that swap left, so of two swaps from one value only one
-- applies. The size limit is MergeSession's: refuse growth past max_bytes.
-- 0 rows: gone, a mismatch, or too large (CurrentValue tells them apart).
UPDATE http_sessions
SET data = data || jsonb_build_object(sqlc.arg(key)::text, sqlc.arg(new_value)::jsonb)
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now)
  AND data -> sqlc.arg(key)::text IS NOT DISTINCT FROM sqlc.narg(old_value)::text::jsonb
  AND (sqlc.arg(max_bytes)::integer = 0
       OR octet_length((data || jsonb_build_object(sqlc.arg(key)::text, sqlc.arg(new_value)::jsonb))::text) <= sqlc.arg(max_bytes)::integer
       OR octet_length((data || jsonb_build_object(sqlc.arg(key)::text, sqlc.arg(new_value)::jsonb))::text) <= octet_length(data::text));

-- name: CurrentValue :one
-- Why SwapValue changed no row: the key's value now (present, value as
-- jsonb text), whether it matches old_value, and the sizes the swap would
-- give and the row has. No row: the session is gone or expired.
SELECT ((data -> sqlc.arg(key)::text) IS NOT NULL)::boolean AS present,
       COALESCE((data -> sqlc.arg(key)::text)::text, '')::text AS value,
       (data -> sqlc.arg(key)::text IS NOT DISTINCT FROM sqlc.narg(old_value)::text::jsonb)::boolean AS matches,
       octet_length((data || jsonb_build_object(sqlc.arg(key)::text, sqlc.arg(new_value)::jsonb))::text)::integer AS swapped_size,
       octet_length(data::text)::integer AS current_size
FROM http_sessions
WHERE id_hash = sqlc.arg(id_hash) AND expires_at > sqlc.arg(now);
