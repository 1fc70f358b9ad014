-- sqlsession: what a session's latest request said about its client, for
-- "your active sessions" pages (Options.RecordDevice). All three columns
-- are nullable and have no default, so adding them rewrites nothing, and
-- writers that do not know them (another language's store) keep working.
-- None is indexed: a touch that sets last_seen_at stays a HOT update.

-- +goose Up
ALTER TABLE http_sessions
    ADD COLUMN last_seen_at timestamptz,
    ADD COLUMN ip text,
    ADD COLUMN user_agent text;

-- +goose Down
ALTER TABLE http_sessions
    DROP COLUMN IF EXISTS user_agent,
    DROP COLUMN IF EXISTS ip,
    DROP COLUMN IF EXISTS last_seen_at;
