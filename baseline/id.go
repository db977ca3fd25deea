package baseline

import "github.com/hotpatch-go/hotpatch/fingerprint"

// ID identifies a baseline for the baseline step: [fingerprint.BaselineID]
// (the fingerprint's hash and, where the binary carries one, the hash of
// its source record). "hotpatch build -versioned" names a binary after the
// first 12 digits, and the journal keys its records by it.
func ID(rec fingerprint.Record, src fingerprint.Sources) string {
	return fingerprint.BaselineID(rec, src)
}
