-- sqlsession: ids that Regenerate retired (Options.RenewGrace); see the
-- Postgres migration. Times are unix milliseconds.

-- +goose Up
CREATE TABLE http_sessions_retired (
    id_hash     blob PRIMARY KEY,
    successor   blob NOT NULL,
    user_id     text,
    grace_until integer NOT NULL,
    expires_at  integer NOT NULL,
    sealed      blob
);
CREATE INDEX http_sessions_retired_expires_at ON http_sessions_retired (expires_at);

-- +goose Down
DROP TABLE IF EXISTS http_sessions_retired;
