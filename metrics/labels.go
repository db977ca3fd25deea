package metrics

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// maxKinds bounds the kind label of the counters and the histogram: kinds
// are open (any code that applies a patch names its own), so past this
// many distinct kinds, the rest count as KindOther.
const maxKinds = 16

// KindOther is the kind label of the kinds past the first maxKinds.
const KindOther = "other"

// maxLabelLen bounds a label value in bytes (patch IDs, kinds, event
// types, slot names come from outside); longer values are cut, with an
// ellipsis and a hash of the whole value.
const maxLabelLen = 128

// labelValue returns s as a label value: bytes that are not UTF-8 (which
// the Prometheus client refuses with a panic) replaced by U+FFFD, and cut
// to maxLabelLen bytes at a rune boundary. A cut value ends with 8 hex
// digits of the SHA-256 of the whole, so two long values that share a
// beginning (two slots, whose series must differ, or a scrape fails for
// them all) keep distinct labels.
func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxLabelLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tail := "…" + hex.EncodeToString(sum[:4])
	cut := maxLabelLen - len(tail)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + tail
}

// kindLabel returns the kind label of an event's kind: "unknown" for an
// event about no patch of a known kind (a watch error), KindOther past
// the first maxKinds distinct kinds. The caller holds mu.
func (c *Collector) kindLabel(k hotswap.Kind) string {
	s := loaderKind(k)
	if c.kinds[s] {
		return s
	}
	if len(c.kinds) >= maxKinds {
		return KindOther
	}
	c.kinds[s] = true
	return s
}

// loaderKind returns the kind label of a kind without the bound of
// kindLabel: for the loaders attached, one series each.
func loaderKind(k hotswap.Kind) string {
	if k == "" {
		return "unknown"
	}
	return labelValue(string(k))
}
