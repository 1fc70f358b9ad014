// Package examples holds runnable programs; this test keeps README.md's Go
// snippets honest.
package examples

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippetMarker names, on the line before a ```go fence, the compiled file
// that contains the block verbatim (indentation aside).
var snippetMarker = regexp.MustCompile(`^<!-- snippet: (\S+\.go) -->$`)

type snippet struct {
	line int    // README line of the ```go fence
	file string // repository-relative path from the marker
	text []string
}

// TestREADMESnippetsCompile asserts that every ```go block in README.md is
// preceded by <!-- snippet: path.go --> and appears, line for line, in that
// file; the files are compiled by go vet/go test of their module
// (integration/routers in the integration module).
func TestREADMESnippetsCompile(t *testing.T) {
	snippets := readmeSnippets(t, filepath.Join("..", "README.md"))
	if len(snippets) == 0 {
		t.Fatal("README.md has no ```go blocks: did the test lose its way?")
	}
	for _, sn := range snippets {
		if sn.file == "" {
			t.Errorf("README.md:%d: ```go block without a <!-- snippet: path.go --> line before it", sn.line)
			continue
		}
		src, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(sn.file)))
		if err != nil {
			t.Errorf("README.md:%d: %v", sn.line, err)
			continue
		}
		if !containsBlock(strings.Split(string(src), "\n"), sn.text) {
			t.Errorf("README.md:%d: the block is not in %s (line for line, ignoring a common indentation); update one of them:\n%s",
				sn.line, sn.file, strings.Join(sn.text, "\n"))
		}
	}
}

func readmeSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []snippet
		cur  *snippet
		prev string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text = append(cur.text, line)
		case line == "```go":
			cur = &snippet{line: n}
			if m := snippetMarker.FindStringSubmatch(prev); m != nil {
				cur.file = m[1]
			}
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("README.md:%d: unterminated ```go block", cur.line)
	}
	return out
}

// containsBlock reports whether block occurs in src as consecutive lines,
// each src line being the block line behind the same run of tabs (so a
// snippet may come from inside a function body).
func containsBlock(src, block []string) bool {
	if len(block) == 0 {
		return false
	}
	for i := 0; i+len(block) <= len(src); i++ {
		indent, ok := strings.CutSuffix(src[i], block[0])
		if !ok || strings.Trim(indent, "\t") != "" {
			continue
		}
		if matchesAt(src[i:], block, indent) {
			return true
		}
	}
	return false
}

func matchesAt(src, block []string, indent string) bool {
	for j, want := range block {
		if want == "" {
			if strings.TrimSpace(src[j]) != "" {
				return false
			}
			continue
		}
		if src[j] != indent+want {
			return false
		}
	}
	return true
}
