package baseline

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/hotpatch-go/hotpatch/fingerprint"
)

// ID identifies a baseline for the baseline step: the hex SHA-256 of its
// fingerprint's hash and, where the binary carries one, the hash of its
// source record, so that a rebuild from edited source of the same
// revision counts as a new baseline. "hotpatch build -versioned" names a
// binary after the first 12 digits.
func ID(rec fingerprint.Record, src fingerprint.Sources) string {
	if len(src) == 0 {
		return rec.Hash()
	}
	sum := sha256.Sum256([]byte(rec.Hash() + "\n" + src.Hash()))
	return hex.EncodeToString(sum[:])
}
