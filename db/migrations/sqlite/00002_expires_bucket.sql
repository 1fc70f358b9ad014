-- sqlsession: the Postgres migration 00002 indexes a coarse expiry bucket
-- instead of expires_at so that touches can be HOT updates. SQLite has no
-- HOT updates (an UPDATE rewrites the row and the index entries of changed
-- columns either way), so its schema stays as it is; this migration keeps
-- the version numbers of both dialects in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
