package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAdminClientLean: the admin commands link the wire types of
// admin/api, which import nothing of this module, and never the server
// (package admin and what it brings: the manager, the journal, the
// baseline step).
func TestAdminClientLean(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	const mod = "github.com/hotpatch-go/hotpatch"
	for pkg, forbidden := range map[string][]string{
		mod + "/cmd/hotpatch": {mod + "/admin", mod + "/baseline", mod + "/hotswap"},
		mod + "/admin/api":    {mod + "/", "net", "crypto"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == pkg || dep == mod+"/admin/api" {
				continue
			}
			for _, bad := range forbidden {
				if dep == bad || strings.HasPrefix(dep, bad+"/") || strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
