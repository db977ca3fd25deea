package journal

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestGoBuildIDMatchesTheGoCommand(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := goBuildID(exe)
	if !ok {
		t.Fatal("no build ID read from the test binary")
	}
	out, err := exec.Command("go", "tool", "buildid", exe).Output()
	if err != nil {
		t.Skipf("go tool buildid: %v", err)
	}
	if want := strings.TrimSpace(string(out)); id != want {
		t.Fatalf("build ID %q, go tool buildid says %q", id, want)
	}
	got, err := Identity()
	if err != nil || got != "go-build:"+id {
		t.Fatalf("Identity() = %q, %v; want go-build:%s", got, err, id)
	}
	if _, ok := goBuildID(writeTemp(t, "not an executable")); ok {
		t.Fatal("a build ID read from a text file")
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := t.TempDir() + "/f"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
