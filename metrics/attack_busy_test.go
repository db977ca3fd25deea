package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// busyLoader is a loader whose Memory waits, as the native loader's does
// while it holds its lock across plugin.Open (a plugin's init functions
// may take seconds, or never return).
type busyLoader struct {
	fakeLoader
	release chan struct{}
	calls   chan struct{}
}

func (l *busyLoader) Memory() (int64, int64) {
	l.calls <- struct{}{}
	<-l.release
	return 5, 10
}

// TestAttackBusyLoader: a scrape does not wait for a loader that is busy:
// it leaves its memory out, and calls Memory once however many scrapes
// come meanwhile; once the loader is free, the memory is back.
func TestAttackBusyLoader(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	l := &busyLoader{fakeLoader: fakeLoader{kind: hotswap.KindNative}, release: make(chan struct{}), calls: make(chan struct{}, 100)}
	if err := f.m.Attach(l); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		done := make(chan error, 1)
		go func() {
			_, err := gather(f.c)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(hangAfter):
			close(l.release)
			t.Fatal("the scrape waits for a busy loader")
		}
	}
	if n := len(l.calls); n != 1 {
		t.Errorf("Memory was called %d times by 3 scrapes of a busy loader, want 1", n)
	}
	close(l.release)
	ctx, cancel := context.WithTimeout(context.Background(), hangAfter)
	defer cancel()
	for ctx.Err() == nil {
		mfs, err := gather(f.c)
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs["hotpatch_loader_memory_bytes"].GetMetric()) == 1 {
			return
		}
	}
	t.Error("the memory did not come back once the loader was free")
}
