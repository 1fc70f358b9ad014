package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFeaturesDocSnippetsCompile holds docs/FEATURES.md to the rule of
// TestREADMESnippetsCompile: every ```go block names, and appears in, a
// compiled file.
func TestFeaturesDocSnippetsCompile(t *testing.T) {
	const doc = "docs/FEATURES.md"
	snippets := readmeSnippets(t, filepath.Join("..", filepath.FromSlash(doc)))
	if len(snippets) == 0 {
		t.Fatalf("%s has no ```go blocks: did the test lose its way?", doc)
	}
	for _, sn := range snippets {
		if sn.file == "" {
			t.Errorf("%s:%d: ```go block without a <!-- snippet: path.go --> line before it", doc, sn.line)
			continue
		}
		src, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(sn.file)))
		if err != nil {
			t.Errorf("%s:%d: %v", doc, sn.line, err)
			continue
		}
		if !containsBlock(strings.Split(string(src), "\n"), sn.text) {
			t.Errorf("%s:%d: the block is not in %s (line for line, ignoring a common indentation):\n%s", doc, sn.line, sn.file, strings.Join(sn.text, "\n"))
		}
	}
}
