package integration

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/internal/testskip"
)

// forbidden are modules a Postgres service must never download: a SQLite
// engine and its libc port, and the Docker machinery of testcontainers.
var forbidden = []string{
	"modernc.org/sqlite", "modernc.org/libc",
	"github.com/testcontainers/", "github.com/docker/", "github.com/moby/",
}

// TestPostgresServiceDownloads is what a new user of the Postgres path
// downloads, measured as README.md says: a fresh module (go mod init) whose
// main.go is the README's program, examples/postgres/main.go, pointed at
// this checkout as README's "before it is published" steps do (go mod edit
// -require=…@v0.0.0 -replace=…), then go mod tidy and go mod download with
// an empty module cache, through the module proxy. It fails when any
// forbidden module reaches the cache (even only its go.mod), and logs the
// module zips fetched (sqlsession itself comes from the checkout) and the
// megabytes of zips and go.mod files (make deps-check prints them).
func TestPostgresServiceDownloads(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads from the module proxy; skipped with -short")
	}
	if p := os.Getenv("GOPROXY"); p == "off" {
		testskip.Skip(t, "Module download check", "", "GOPROXY=off")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile(filepath.Join(root, "examples", "postgres", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	app, cache := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(app, "main.go"), string(program))
	// -trimpath: the packages compiled from the fresh cache get the same
	// build-cache keys in every run (without it their paths, in a new
	// temporary directory each time, made every run compile pgx again).
	env := append(os.Environ(), "GOMODCACHE="+cache, "GOFLAGS=-modcacherw", "GOWORK=off", "GOPROXY="+localFirstProxy(t))
	for _, args := range [][]string{
		{"mod", "init", "example.com/app"},
		{"mod", "edit", "-require=github.com/sqlsession/sqlsession@v0.0.0", "-replace=github.com/sqlsession/sqlsession=" + root},
		{"mod", "tidy"}, {"mod", "download"}, {"build", "-trimpath", "-o", os.DevNull, "."},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = app, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	zips, mods, bytes := 0, 0, int64(0)
	var names []string // module/@v/version of each zip
	dl := filepath.Join(cache, "cache", "download")
	err = filepath.WalkDir(dl, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, dl+string(filepath.Separator)))
		ext := filepath.Ext(rel)
		if ext != ".zip" && ext != ".mod" || strings.HasPrefix(rel, "sumdb/") {
			return nil
		}
		for _, f := range forbidden {
			if strings.HasPrefix(rel, f) {
				t.Errorf("downloaded %s", rel)
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		bytes += info.Size()
		if ext == ".zip" {
			zips++
			names = append(names, strings.TrimSuffix(rel, ".zip"))
		} else {
			mods++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("go mod download of the Postgres service: %d modules besides sqlsession, %.1f MB (%d zips and %d go.mod files):\n%s",
		zips, float64(bytes)/1e6, zips, mods, strings.Join(names, "\n"))
}

// localFirstProxy is GOPROXY with this machine's module cache in front, as
// a file:// proxy: the empty cache of the test is filled with the same
// files (same modules, same sizes) without fetching them over the network
// again, which took most of the test's time. What the local cache lacks
// still comes from the configured proxy.
func localFirstProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE", "GOPROXY").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] == "" {
		return os.Getenv("GOPROXY")
	}
	local := "file://" + filepath.ToSlash(filepath.Join(lines[0], "cache", "download"))
	return local + "," + lines[1]
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
