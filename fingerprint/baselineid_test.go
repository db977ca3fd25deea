package fingerprint

import "testing"

// TestBaselineID: a source record changes the ID, and the ID without one is
// the fingerprint's hash.
func TestBaselineID(t *testing.T) {
	rec, err := Fingerprint()
	if err != nil {
		t.Skip(err)
	}
	if got := BaselineID(rec, nil); got != rec.Hash() {
		t.Errorf("no source record: %s, want the fingerprint hash %s", got, rec.Hash())
	}
	a, b := BaselineID(rec, Sources{"a": "1"}), BaselineID(rec, Sources{"a": "2"})
	if a == b || a == rec.Hash() {
		t.Errorf("source records do not change the ID: %s, %s", a, b)
	}
}
