package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
)

// BaselineID identifies a baseline for the baseline step, the journal of
// applied patches and the names of versioned binaries: the record's
// [Record.Hash] alone when there is no source record, else the hex SHA-256
// of that hash and the source record's [Sources.Hash], so that a rebuild
// from edited source of the same revision is a new baseline.
func BaselineID(rec Record, src Sources) string {
	if len(src) == 0 {
		return rec.Hash()
	}
	sum := sha256.Sum256([]byte(rec.Hash() + "\n" + src.Hash()))
	return hex.EncodeToString(sum[:])
}
