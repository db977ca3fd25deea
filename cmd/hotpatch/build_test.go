package main

import (
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/fingerprint"
)

// TestBaselineID: the name of a versioned binary is the baseline's ID as
// the baseline package computes it, with and without a source record.
func TestBaselineID(t *testing.T) {
	rec, err := fingerprint.Fingerprint()
	if err != nil {
		t.Skip(err)
	}
	for _, src := range []fingerprint.Sources{nil, {"example.com/app": "abc"}} {
		if got, want := baselineID(rec, src), baseline.ID(rec, src); got != want {
			t.Errorf("sources %v: %s, want %s", src, got, want)
		}
	}
	if baselineID(rec, nil) == baselineID(rec, fingerprint.Sources{"a": "1"}) {
		t.Error("a source record does not change the ID")
	}
}
