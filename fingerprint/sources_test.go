package fingerprint

import "testing"

func TestDiffSources(t *testing.T) {
	patch := Sources{"a": "sha256:0123456789abcdef", "b": "sha256:1", "new": "sha256:2"}
	running := Sources{"a": "sha256:fedcba9876543210", "b": "sha256:1", "main": "sha256:3"}
	d := DiffSources(patch, running)
	if len(d) != 1 || d[0].What != "source of package a" || d[0].A != "sha256:0123456789ab" {
		t.Fatalf("DiffSources = %v", d)
	}
	if running.Hash() == patch.Hash() || running.Hash() != (Sources{"main": "sha256:3", "b": "sha256:1", "a": "sha256:fedcba9876543210"}).Hash() {
		t.Errorf("Hash does not follow the content")
	}
	if DiffSources(running, running) != nil {
		t.Errorf("DiffSources of equal records is not empty")
	}
}
