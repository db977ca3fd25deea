package admin

import (
	"context"
	"os"
	"testing"
)

// dirJournal is a Journal whose directory is dir.
type dirJournal struct{ dir string }

func (j dirJournal) Dir() string                          { return j.dir }
func (j dirJournal) Sync(ctx context.Context) error       { return nil }
func (j dirJournal) SyncTo(context.Context, uint64) error { return nil }
func (j dirJournal) Identity() string                     { return "test" }

// TestStoreSharedByPushes: two pushes of the same bytes in flight share
// the stored file; the one that fails first must not remove it under the
// other (whose load then found no file: a 422 in a CI run). The file goes
// when the last one releases it and none applied it, and stays when one
// did, or when it was there before them.
func TestStoreSharedByPushes(t *testing.T) {
	s := &Server{tgt: Target{Journal: dirJournal{t.TempDir()}}}
	exists := func(path string) bool { _, err := os.Lstat(path); return err == nil }

	path, releaseA, err := s.store("aa", []byte("bundle"))
	if err != nil {
		t.Fatal(err)
	}
	_, releaseB, err := s.store("aa", []byte("bundle"))
	if err != nil {
		t.Fatal(err)
	}
	releaseA(false) // A failed (409: B applied it first, say)
	if !exists(path) {
		t.Fatal("the first push that failed removed the file the other still loads")
	}
	releaseB(false)
	if exists(path) {
		t.Error("a stored bundle no push applied is left behind")
	}

	// One of them applied it: it stays, whatever order they end in.
	path, releaseA, _ = s.store("bb", []byte("bundle 2"))
	_, releaseB, _ = s.store("bb", []byte("bundle 2"))
	releaseB(true)
	releaseA(false)
	if !exists(path) {
		t.Error("the bundle a push applied was removed")
	}

	// There before any push in flight (an earlier push applied it): a
	// failed push does not remove it.
	_, releaseC, _ := s.store("bb", []byte("bundle 2"))
	releaseC(false)
	if !exists(path) {
		t.Error("a failed push removed a bundle stored before it")
	}
	if len(s.pushRefs) != 0 {
		t.Errorf("references left: %v", s.pushRefs)
	}
}
