-- sqlsession: ids that Regenerate retired (Options.RenewGrace). Each row
-- names a retired id by its SHA-256 (never the id), its successor's hash,
-- the user the session had when it was retired, until when the retired id
-- still leads to its successor (the grace), and, sealed under a key that
-- only the retired id's holder can derive, the successor's id, so that a
-- request still in flight with the old cookie gets the new one. After the
-- grace a retired id of a signed-in session is a replayed stolen token.
-- Sessions are never loaded from this table; sess-gc reaps it by expires_at.

-- +goose Up
CREATE TABLE http_sessions_retired (
    id_hash     bytea PRIMARY KEY,
    successor   bytea NOT NULL,
    user_id     text,
    grace_until timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    sealed      bytea
);
CREATE INDEX http_sessions_retired_expires_at ON http_sessions_retired (expires_at);

-- +goose Down
DROP TABLE IF EXISTS http_sessions_retired;
