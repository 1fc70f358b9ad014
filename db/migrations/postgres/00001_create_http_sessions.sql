-- sqlsession: server-side HTTP sessions (https://github.com/sqlsession/sqlsession).
-- The raw session id never reaches the database: id_hash is SHA-256(id).

-- +goose Up
CREATE TABLE http_sessions (
    id_hash    bytea       PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    data       jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    user_id    text
);

-- The reaper's range scan (sess-gc) and the unexpired filter of every read.
CREATE INDEX http_sessions_expires_at_idx ON http_sessions (expires_at);

-- "List / revoke all sessions of a user"; most sessions are anonymous.
CREATE INDEX http_sessions_user_id_idx ON http_sessions (user_id) WHERE user_id IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS http_sessions_user_id_idx;
DROP INDEX IF EXISTS http_sessions_expires_at_idx;
DROP TABLE IF EXISTS http_sessions;
