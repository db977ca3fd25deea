package admin

import (
	"errors"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/textcap"
)

// TestEventErrorClipped: an event whose error quotes 200 KB (a script
// importing a huge path) reaches history and status answers clipped.
func TestEventErrorClipped(t *testing.T) {
	huge := errors.New("load: import " + strings.Repeat("x", 200<<10) + ": not allowed")
	ae := convertEvent(hotswap.Event{Type: hotswap.EventRejected, Err: huge})
	if len(ae.Err) > textcap.ErrMax+64 || !strings.Contains(ae.Err, "more bytes)") || !strings.HasPrefix(ae.Err, "load: import xxx") {
		t.Errorf("event error of %d bytes served as %d bytes: %.80q…", len(huge.Error()), len(ae.Err), ae.Err)
	}
}
