//go:build linux

package process

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLogLimiter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := newLogLimiter(log, LogLimit{Lines: 10, Bytes: 1000}, clock.now)

	allowed := 0
	for range 100 {
		if l.allow(5) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("a burst of 100 lines let %d through, want 10", allowed)
	}
	if n := strings.Count(buf.String(), "dropping lines"); n != 1 {
		t.Fatalf("%d announcements of dropping, want 1:\n%s", n, buf.String())
	}
	clock.t = clock.t.Add(500 * time.Millisecond) // half a second refills 5 lines
	allowed = 0
	for range 10 {
		if l.allow(5) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("after half a second %d lines passed, want 5", allowed)
	}
	clock.t = clock.t.Add(logReportEvery) // the next line reports what was dropped
	l.allow(5)
	if !strings.Contains(buf.String(), "dropped_lines=95 dropped_bytes=475") {
		t.Fatalf("no count of dropped lines:\n%s", buf.String())
	}
	// Bytes limit: a line of 900 bytes then one of 200 do not both fit.
	buf.Reset()
	clock.t = clock.t.Add(time.Hour)
	if !l.allow(900) || l.allow(200) {
		t.Fatal("the byte limit does not hold")
	}
	l.flush()
	if !strings.Contains(buf.String(), "dropped_lines=1 dropped_bytes=200") {
		t.Fatalf("flush does not report:\n%s", buf.String())
	}
	// No limit.
	u := newLogLimiter(log, LogLimit{Lines: -1, Bytes: -1}, clock.now)
	for range 10000 {
		if !u.allow(1 << 20) {
			t.Fatal("an unlimited limiter dropped a line")
		}
	}
}

func TestStderrSinkCutsLongLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s := newStderrSink(newLogLimiter(log, LogLimit{LineBytes: 100}, time.Now), "stderr")
	long := strings.Repeat("x", 1000)
	s.Write([]byte(long[:300])) // a line in pieces, as go-plugin writes one
	s.Write([]byte(long[300:] + "\nshort\n"))
	out := buf.String()
	if !strings.Contains(out, "msg="+long[:100]+" ") || !strings.Contains(out, "cut_bytes=900") || strings.Contains(out, long[:101]) {
		t.Fatalf("a 1000-byte line is not cut to 100:\n%s", out)
	}
	if !strings.Contains(out, "msg=short") {
		t.Fatalf("the next line is lost:\n%s", out)
	}
}

// TestLogFlood: a plugin writing 20 MB to stderr reaches the host's logger
// within the rate limit, and the host says how much it dropped: the lines
// logged and the lines counted as dropped add up to the lines written (and
// a few records of go-plugin's named loggers, which draw from the same
// bucket).
func TestLogFlood(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{LogLimit: LogLimit{Lines: 20, Bytes: 64 << 10}})
	p := e.apply(t, "greet-v1.proc")
	const lines = 100000
	if n := e.s.flood.Load()(lines, 200); n != lines {
		t.Fatalf("flood wrote %d lines", n)
	}
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a retired event", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "") })
	logs := e.logs.String()
	logged := strings.Count(logs, "flood-line")
	dropped := 0
	for _, m := range regexp.MustCompile(`dropped_lines=(\d+)`).FindAllStringSubmatch(logs, -1) {
		n, _ := strconv.Atoi(m[1])
		dropped += n
	}
	if logged+dropped < lines || logged+dropped > lines+10 || logged > lines/10 {
		t.Fatalf("%d lines logged and %d counted as dropped, of %d written", logged, dropped, lines)
	}
	if !strings.Contains(logs, "dropping lines") {
		t.Fatal("no warning when dropping started")
	}
}

// TestLogLongLines: 12 MB in three lines do not reach the host's logger in
// full. go-plugin hands lines over 64 KiB to its logger in pieces, before
// the host's sink sees them; both paths are limited.
func TestLogLongLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{LogLimit: LogLimit{Bytes: 64 << 10}})
	p := e.apply(t, "greet-v1.proc")
	if n := e.s.flood.Load()(3, 4<<20); n != 3 {
		t.Fatalf("flood wrote %d lines", n)
	}
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a retired event", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "") })
	if n := len(e.logs.String()); n > 2<<20 {
		t.Errorf("12 MB in three lines made %d bytes of host log", n)
	}
}
