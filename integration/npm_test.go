package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installDocs are the pages that tell users how to install
// connect-sqlsession from a checkout.
var installDocs = []string{
	filepath.Join("..", "docs", "NODE.md"),
	filepath.Join("..", "node", "connect-sqlsession", "README.md"),
}

// docCheckout is the checkout path as the documentation spells it.
const docCheckout = "/path/to/sqlsession"

// TestNpmInstallFromCheckout runs the documented install command of
// connect-sqlsession, exactly as docs/NODE.md and the package README spell
// it (with this checkout for /path/to/sqlsession), in an empty app directory
// outside the checkout, then requires the package there. A plain
// `npm install /path` fails that require with "Cannot find module 'pg'":
// npm links a local folder without installing its dependencies.
func TestNpmInstallFromCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("installs from the npm registry; skipped with -short")
	}
	node, npm := requireNode(t)
	command := documentedInstall(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(strings.ReplaceAll(command, docCheckout, root))
	if len(args) < 3 || args[0] != "npm" {
		t.Fatalf("documented command %q: want an npm command", command)
	}
	app := t.TempDir()
	writeFile(t, filepath.Join(app, "package.json"), `{"name": "app", "version": "1.0.0", "private": true}`+"\n")
	run := func(bin string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = app
		cmd.Env = append(os.Environ(), "npm_config_audit=false", "npm_config_fund=false", "npm_config_update_notifier=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
	}
	run(npm, args[1:]...)
	st, err := os.Lstat(filepath.Join(app, "node_modules", "connect-sqlsession"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		t.Errorf("%q linked the checkout instead of installing a copy with its dependencies", command)
	}
	run(node, "-e", `const s = require('connect-sqlsession'); if (typeof s !== 'function') { throw new Error('connect-sqlsession exports ' + typeof s); }`)
}

// documentedInstall returns the one `npm install` command the install docs
// show; it fails the test when they are missing it or disagree.
func documentedInstall(t *testing.T) string {
	t.Helper()
	var command string
	for _, doc := range installDocs {
		found := npmInstallLines(t, doc)
		if len(found) != 1 {
			t.Fatalf("%s: want one `npm install … %s/node/connect-sqlsession` line, found %q", doc, docCheckout, found)
		}
		if command != "" && found[0] != command {
			t.Fatalf("the install docs disagree: %q and %q", command, found[0])
		}
		command = found[0]
	}
	return command
}

func npmInstallLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "npm install ") && strings.Contains(line, docCheckout+"/node/connect-sqlsession") {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
