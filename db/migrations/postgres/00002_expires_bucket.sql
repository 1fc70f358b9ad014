-- sqlsession: let touches be HOT updates.
--
-- A touch moves expires_at. While expires_at is indexed, every touch writes
-- new index entries (and WAL for them), never a HOT update. The reaper only
-- needs a coarse order, so it now walks an index on expires_bucket, the
-- expiry rounded down to 15 minutes (a generated column: writers, including
-- ones in other languages, never set it). A touch that keeps the bucket
-- changes no indexed column and, with room left on the page (fillfactor),
-- is a HOT update. Reads are primary-key lookups and filter expires_at
-- themselves; they never used the expires_at index.
--
-- Adding a STORED generated column rewrites the table under an ACCESS
-- EXCLUSIVE lock (seconds per million rows): on a large table, run this
-- migration at a quiet time. The queries repeat the expression below
-- (date_bin of 15 minutes from 2000-01-01 UTC); keep them in step.

-- +goose Up
ALTER TABLE http_sessions
    SET (fillfactor = 85,
         autovacuum_vacuum_scale_factor = 0.05,
         autovacuum_vacuum_insert_scale_factor = 0.05,
         autovacuum_analyze_scale_factor = 0.02),
    ADD COLUMN expires_bucket timestamptz NOT NULL
        GENERATED ALWAYS AS (date_bin('15 minutes', expires_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')) STORED;

CREATE INDEX http_sessions_expires_bucket_idx ON http_sessions (expires_bucket);

DROP INDEX IF EXISTS http_sessions_expires_at_idx;

-- +goose Down
CREATE INDEX IF NOT EXISTS http_sessions_expires_at_idx ON http_sessions (expires_at);
DROP INDEX IF EXISTS http_sessions_expires_bucket_idx;
ALTER TABLE http_sessions
    DROP COLUMN IF EXISTS expires_bucket,
    RESET (fillfactor, autovacuum_vacuum_scale_factor,
           autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor);
