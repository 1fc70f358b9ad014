package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPermanent(t *testing.T) {
	for code, want := range map[string]bool{
		"42501": true,  // permission denied
		"42P01": true,  // undefined table
		"28P01": true,  // bad password
		"3D000": true,  // no such database
		"57P01": false, // admin shutdown: the server comes back
		"40001": false, // serialization failure
		"53300": false, // too many connections
	} {
		err := fmt.Errorf("sessions: delete expired: %w", &pgconn.PgError{Code: code})
		if got := permanent(err); got != want {
			t.Errorf("permanent(SQLSTATE %s) = %v, want %v", code, got, want)
		}
	}
	if !permanent(errors.New("SQL logic error: no such table: http_sessions (1)")) {
		t.Error("SQLite missing table must be permanent")
	}
	if permanent(errors.New("open sqlite /x.db: unable to open database file")) {
		t.Error("a missing SQLite file may appear (a volume not mounted yet): not permanent")
	}
}
