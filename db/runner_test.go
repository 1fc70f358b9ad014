package db

import (
	"reflect"
	"strings"
	"testing"
)

// A section is split into statements as goose splits it: at lines ending
// in ";" (a trailing comment aside), except between StatementBegin and
// StatementEnd; comments between statements are dropped.
func TestParseMigrationSplitsStatements(t *testing.T) {
	text := `-- header comment
-- +goose Up
CREATE TABLE a (x int); -- trailing
-- between
CREATE INDEX a_x ON a
    (x);

-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RETURN 1;
END $$;
-- +goose StatementEnd
-- +goose Down
DROP TABLE a;
`
	m, err := parseMigration("00007_x.sql", text)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CREATE TABLE a (x int); -- trailing",
		"CREATE INDEX a_x ON a\n    (x);",
		"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n    RETURN 1;\nEND $$;",
	}
	if !reflect.DeepEqual(m.up, want) {
		t.Errorf("up = %q,\nwant %q", m.up, want)
	}
	if !reflect.DeepEqual(m.down, []string{"DROP TABLE a;"}) {
		t.Errorf("down = %q", m.down)
	}
}

func TestParseMigrationRejectsUnterminated(t *testing.T) {
	for name, text := range map[string]string{
		"no semicolon": "-- +goose Up\nCREATE TABLE a (x int)\n",
		"open block":   "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n",
		"before down":  "-- +goose Up\nSELECT 1\n-- +goose Down\nSELECT 2;\n",
		"empty up":     "-- +goose Up\n-- only a comment\n",
	} {
		if _, err := parseMigration("00001_x.sql", text); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// Every shipped migration parses, and no statement holds a second one.
func TestShippedMigrationsSplit(t *testing.T) {
	for _, d := range []Dialect{Postgres, SQLite} {
		files, err := loadMigrations(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range files {
			for _, st := range append(m.up, m.down...) {
				if strings.Count(st, ";") != 1 || !strings.HasSuffix(st, ";") {
					t.Errorf("%s %s: statement %q is not exactly one", d, m.name, st)
				}
			}
		}
	}
}
