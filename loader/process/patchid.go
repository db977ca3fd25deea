package process

import (
	"crypto/sha256"
	"encoding/hex"
)

// patchID derives a patch ID from a file's name and content.
// TODO: use loader.PatchID once the loader package is merged.
func patchID(name string, content []byte) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(content)
	return name + "@" + hex.EncodeToString(h.Sum(nil))[:12]
}
