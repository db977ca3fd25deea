package script_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader/script"
)

// TestDocsListDefaultDeny checks that docs/scripts.md lists the default
// deny list exactly, in order.
func TestDocsListDefaultDeny(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/scripts.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "The list, exactly as `DefaultDeny()` returns it")
	if !ok {
		t.Fatal("docs/scripts.md no longer lists DefaultDeny")
	}
	var listed []string
	inBlock := false
	for line := range strings.Lines(rest) {
		indented := strings.HasPrefix(line, "    ")
		if inBlock && !indented {
			break
		}
		if indented {
			inBlock = true
			listed = append(listed, strings.Fields(line)...)
		}
	}
	if want := script.DefaultDeny(); !slices.Equal(listed, want) {
		t.Errorf("docs/scripts.md lists\n%q\nDefaultDeny returns\n%q", listed, want)
	}
}
