-- sqlsession: what a session's latest request said about its client, for
-- "your active sessions" pages (Options.RecordDevice); unix milliseconds,
-- as the other times. Nullable, so writers that do not know them keep
-- working.

-- +goose Up
ALTER TABLE http_sessions ADD COLUMN last_seen_at integer;
ALTER TABLE http_sessions ADD COLUMN ip text;
ALTER TABLE http_sessions ADD COLUMN user_agent text;

-- +goose Down
ALTER TABLE http_sessions DROP COLUMN user_agent;
ALTER TABLE http_sessions DROP COLUMN ip;
ALTER TABLE http_sessions DROP COLUMN last_seen_at;
