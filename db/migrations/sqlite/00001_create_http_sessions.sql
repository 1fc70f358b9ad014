-- sqlsession: server-side HTTP sessions (https://github.com/sqlsession/sqlsession).
-- The raw session id never reaches the database: id_hash is SHA-256(id).
-- Times are unix milliseconds (UTC).

-- +goose Up
CREATE TABLE http_sessions (
    id_hash    BLOB    NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
    data       TEXT    NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object'),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    user_id    TEXT
);

-- The reaper's range scan (sess-gc) and the unexpired filter of every read.
CREATE INDEX http_sessions_expires_at_idx ON http_sessions (expires_at);

-- "List / revoke all sessions of a user"; most sessions are anonymous.
CREATE INDEX http_sessions_user_id_idx ON http_sessions (user_id) WHERE user_id IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS http_sessions_user_id_idx;
DROP INDEX IF EXISTS http_sessions_expires_at_idx;
DROP TABLE IF EXISTS http_sessions;
