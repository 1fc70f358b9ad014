// Package examples holds runnable programs; this test keeps the Go code in
// README.md and docs/*.md honest.
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
	line int    // line of the ```go fence in its document
	file string // repository-relative path from the marker
	text []string
}

// docPages returns README.md and every docs/*.md page, relative to this
// directory; it fails the test when there are none to check.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs/*.md pages found (%v): did the test lose its way?", err)
	}
	return append([]string{filepath.Join("..", "README.md")}, pages...)
}

// TestREADMESnippetsCompile asserts that every ```go block in README.md and
// docs/*.md (also one indented in a list) is preceded by
// <!-- snippet: path.go --> and appears, line for line, in that file; the
// files are compiled by go vet/go test of their module (integration/routers
// in the integration module).
func TestREADMESnippetsCompile(t *testing.T) {
	readme := 0
	for _, doc := range docPages(t) {
		name, _ := filepath.Rel("..", doc)
		snippets := docSnippets(t, doc)
		if name == "README.md" {
			readme = len(snippets)
		}
		for _, sn := range snippets {
			checkSnippet(t, name, sn)
		}
	}
	if readme == 0 {
		t.Fatal("README.md has no ```go blocks: did the test lose its way?")
	}
}

func checkSnippet(t *testing.T, doc string, sn snippet) {
	t.Helper()
	if sn.file == "" {
		t.Errorf("%s:%d: ```go block without a <!-- snippet: path.go --> line before it", doc, sn.line)
		return
	}
	src, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(sn.file)))
	if err != nil {
		t.Errorf("%s:%d: %v", doc, sn.line, err)
		return
	}
	if !containsBlock(strings.Split(string(src), "\n"), sn.text) {
		t.Errorf("%s:%d: the block is not in %s (line for line, ignoring a common indentation); update one of them:\n%s",
			doc, sn.line, sn.file, strings.Join(sn.text, "\n"))
	}
}

// docSnippets returns the ```go blocks of the Markdown file at path. A
// fence indented (inside a list item) has that indentation removed from
// its lines, and its marker may be indented the same way.
func docSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out    []snippet
		cur    *snippet
		indent string
		prev   string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text = append(cur.text, strings.TrimPrefix(line, indent))
		case trimmed == "```go":
			indent = line[:len(line)-len(trimmed)]
			cur = &snippet{line: n}
			if m := snippetMarker.FindStringSubmatch(strings.TrimSpace(prev)); m != nil {
				cur.file = m[1]
			}
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated ```go block", path, cur.line)
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
