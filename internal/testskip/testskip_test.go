package testskip_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlsession/sqlsession/internal/testskip"
)

// A skip appends one "group<TAB>reason" line to the report file; with the
// require variable set to 1 the test fails instead and records nothing.
func TestSkipRecordsOrFails(t *testing.T) {
	if os.Getenv("TESTSKIP_CHILD") == "1" {
		testskip.Skip(t, "Widgets", "TESTSKIP_REQUIRE", "no widget\tserver\nhere")
		return
	}
	report := filepath.Join(t.TempDir(), "skipped")
	run := func(require string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipRecordsOrFails$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTSKIP_CHILD=1", testskip.EnvReport+"="+report, "TESTSKIP_REQUIRE="+require)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for range 2 {
		if out, err := run(""); err != nil || !strings.Contains(out, "--- SKIP") {
			t.Fatalf("without the require variable: err %v, output:\n%s", err, out)
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("Widgets\tno widget server here\n", 2); string(b) != want {
		t.Errorf("report = %q, want %q", b, want)
	}
	if out, err := run("1"); err == nil || !strings.Contains(out, "Widgets required (TESTSKIP_REQUIRE=1) but unavailable") {
		t.Errorf("with the require variable: err %v, output:\n%s", err, out)
	}
	if b2, _ := os.ReadFile(report); len(b2) != len(b) {
		t.Errorf("a required component's failure was recorded as a skip: %q", b2)
	}
}
