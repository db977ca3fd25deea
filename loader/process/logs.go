package process

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A plugin's standard error carries JSON log records (from go-plugin's own
// logger and from slog's default logger, see [Serve]) and anything else the
// process prints, such as a panic's stack. The host reads it line by line,
// logs each line to its slog logger with the patch ID and keeps the last
// lines for the error of a plugin that fails to start.
//
// go-plugin can parse these lines itself, but it trusts their JSON types and
// would panic on a record such as {"@message": 1}; its logger here reports
// level Off so that it never parses, and the lines are parsed below.

const (
	tailLines = 30
	tailBytes = 4 << 10

	// logReportEvery spaces the records that count dropped lines.
	logReportEvery = 5 * time.Second
)

// logLimiter is the token bucket of one plugin process's log lines: every
// stream of the process (standard error, forwarded standard output and
// error, log records) draws from it. Lines over the limit are dropped and
// counted; the host logs a warning when dropping starts, the count of what
// was dropped at most every logReportEvery while it goes on, and the rest
// when the process ends.
type logLimiter struct {
	log *slog.Logger
	lim LogLimit
	now func() time.Time

	mu         sync.Mutex // guards the fields below
	lines      float64    // tokens
	bytes      float64    // tokens
	last       time.Time  // of the last refill
	dropLines  int64      // dropped since the last report
	dropBytes  int64
	episode    bool      // dropping started and was announced
	lastDrop   time.Time // of the last dropped line
	lastReport time.Time // of the last count of dropped lines
}

func newLogLimiter(log *slog.Logger, lim LogLimit, now func() time.Time) *logLimiter {
	lim = lim.withDefaults()
	return &logLimiter{log: log, lim: lim, now: now,
		lines: float64(lim.Lines), bytes: float64(lim.Bytes), last: now()}
}

// allow takes the tokens of a line of n bytes and reports whether it may be
// logged; if not, the line is counted as dropped.
func (l *logLimiter) allow(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if dt := now.Sub(l.last).Seconds(); dt > 0 {
		if l.lim.Lines > 0 {
			l.lines = min(l.lines+dt*float64(l.lim.Lines), float64(l.lim.Lines))
		}
		if l.lim.Bytes > 0 {
			l.bytes = min(l.bytes+dt*float64(l.lim.Bytes), float64(l.lim.Bytes))
		}
		l.last = now
	}
	cost := float64(n)
	if l.lim.Bytes > 0 {
		cost = min(cost, float64(l.lim.Bytes)) // a line as long as the burst always fits eventually
	}
	ok := (l.lim.Lines < 0 || l.lines >= 1) && (l.lim.Bytes < 0 || l.bytes >= cost)
	if ok {
		if l.lim.Lines > 0 {
			l.lines--
		}
		if l.lim.Bytes > 0 {
			l.bytes -= cost
		}
	} else {
		if !l.episode {
			l.episode = true
			l.lastReport = now
			l.log.Warn("process: plugin logs over the rate limit; dropping lines",
				"lines_per_s", l.lim.Lines, "bytes_per_s", l.lim.Bytes)
		}
		l.dropLines++
		l.dropBytes += int64(n)
		l.lastDrop = now
	}
	if l.dropLines > 0 && now.Sub(l.lastReport) >= logReportEvery {
		l.report(now)
	}
	if ok && l.episode && l.dropLines == 0 && now.Sub(l.lastDrop) >= logReportEvery {
		l.episode = false
	}
	return ok
}

// report logs the count of dropped lines; the caller holds mu.
func (l *logLimiter) report(now time.Time) {
	l.log.Warn("process: plugin log lines dropped over the rate limit",
		"dropped_lines", l.dropLines, "dropped_bytes", l.dropBytes)
	l.dropLines, l.dropBytes = 0, 0
	l.lastReport = now
}

// flush reports what was dropped and not reported yet.
func (l *logLimiter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropLines > 0 {
		l.report(l.now())
	}
}

// stderrSink logs a plugin's standard error (or another of its streams)
// line by line through its logLimiter and keeps its tail. Lines longer
// than LogLimit.LineBytes are cut.
type stderrSink struct {
	logs   *logLimiter
	stream string

	mu      sync.Mutex // guards the fields below
	partial []byte
	cut     int // bytes of the current line past LineBytes, discarded
	tail    []string
	size    int
	inPanic bool
}

func newStderrSink(logs *logLimiter, stream string) *stderrSink {
	return &stderrSink{logs: logs, stream: stream}
}

func (s *stderrSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		s.add(chunk)
		if i < 0 {
			break
		}
		s.line(s.partial, s.cut)
		s.partial, s.cut = s.partial[:0], 0
		p = p[i+1:]
	}
	return n, nil
}

// add appends b to the current line, up to LineBytes.
func (s *stderrSink) add(b []byte) {
	room := s.logs.lim.LineBytes - len(s.partial)
	if room < len(b) {
		s.cut += len(b) - max(room, 0)
		b = b[:max(room, 0)]
	}
	s.partial = append(s.partial, b...)
}

// Flush logs a last line that had no newline.
func (s *stderrSink) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 || s.cut > 0 {
		s.line(s.partial, s.cut)
		s.partial, s.cut = s.partial[:0], 0
	}
}

// Tail returns the last lines written.
func (s *stderrSink) Tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// line handles one line, of which cut bytes were cut; the caller holds mu.
func (s *stderrSink) line(b []byte, cut int) {
	text := strings.TrimRight(string(b), "\r")
	t := text
	if len(t) > tailBytes {
		t = t[:tailBytes]
	}
	s.tail = append(s.tail, t)
	s.size += len(t)
	for len(s.tail) > 1 && (len(s.tail) > tailLines || s.size > tailBytes) {
		s.size -= len(s.tail[0])
		s.tail = s.tail[1:]
	}
	if text == "" && cut == 0 {
		return
	}
	if !s.logs.allow(len(b) + cut) {
		return
	}
	log := s.logs.log
	ctx := context.Background()
	extra := []slog.Attr{slog.String("stream", s.stream)}
	if cut > 0 {
		extra = append(extra, slog.Int("cut_bytes", cut))
	}
	if !s.inPanic && cut == 0 && strings.HasPrefix(text, "{") {
		var rec map[string]any
		if json.Unmarshal(b, &rec) == nil {
			msg, ok := rec["@message"].(string) // hclog
			if !ok {
				msg, ok = rec[slog.MessageKey].(string) // slog
			}
			if ok {
				level := slog.LevelInfo
				if lv, ok := rec["@level"].(string); ok {
					level = parseLevel(lv)
				} else if lv, ok := rec[slog.LevelKey].(string); ok {
					level = parseLevel(lv)
				}
				if !log.Enabled(ctx, level) {
					return
				}
				attrs := make([]slog.Attr, 0, len(rec)+1)
				attrs = append(attrs, extra...)
				for k, v := range rec {
					switch k {
					case "@message", "@level", "@timestamp", slog.TimeKey, slog.LevelKey, slog.MessageKey:
						continue
					}
					attrs = append(attrs, slog.Any(strings.TrimPrefix(k, "@"), v))
				}
				log.LogAttrs(ctx, level, msg, attrs...)
				return
			}
		}
	}
	level := slog.LevelInfo
	switch {
	case strings.HasPrefix(text, "panic: "), strings.HasPrefix(text, "fatal error: "):
		s.inPanic = true
		level = slog.LevelError
	case s.inPanic:
		level = slog.LevelError
	case strings.HasPrefix(text, "[TRACE]"), strings.HasPrefix(text, "[DEBUG]"):
		level = slog.LevelDebug
	case strings.HasPrefix(text, "[WARN]"):
		level = slog.LevelWarn
	case strings.HasPrefix(text, "[ERROR]"):
		level = slog.LevelError
	}
	log.LogAttrs(ctx, level, text, extra...)
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) == nil { // slog: DEBUG, INFO+2, ...
		return l
	}
	switch strings.ToLower(s) {
	case "trace":
		return slog.LevelDebug - 4
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// hclogAdapter lets go-plugin's host-side logging reach a slog logger. It
// reports level Off so that go-plugin leaves the plugin's stderr lines to
// stderrSink (see above), but it forwards what go-plugin itself logs.
type hclogAdapter struct {
	log  *slog.Logger
	name string
	args []any
	// logs limits the records of named loggers: go-plugin logs a plugin's
	// over-long stderr lines through the one named after the executable.
	logs *logLimiter
}

// lifecycleMessages are go-plugin's records about a process's end. The
// host logs that end itself (the supervisor when a plugin dies, stop when
// the host stops it, with what it took), so these go to Debug: a planned
// stop must not read as an error.
var lifecycleMessages = [...]string{
	"plugin process exited",
	"plugin failed to exit gracefully",
	"error closing client during Kill",
	"plugin exited",
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lv := slog.LevelInfo
	switch level {
	case hclog.Trace:
		lv = slog.LevelDebug - 4
	case hclog.Debug:
		lv = slog.LevelDebug
	case hclog.Warn:
		lv = slog.LevelWarn
	case hclog.Error:
		lv = slog.LevelError
	case hclog.Off:
		return
	}
	for _, m := range lifecycleMessages {
		if msg == m {
			lv = slog.LevelDebug
		}
	}
	ctx := context.Background()
	if !h.log.Enabled(ctx, lv) {
		return
	}
	if h.logs != nil && h.name != "" {
		if max := h.logs.lim.LineBytes; len(msg) > max {
			args = append(args[:len(args):len(args)], "cut_bytes", len(msg)-max)
			msg = msg[:max]
		}
		if !h.logs.allow(len(msg)) {
			return
		}
	}
	all := make([]any, 0, len(h.args)+len(args)+2)
	if h.name != "" {
		all = append(all, "component", h.name)
	}
	all = append(all, h.args...)
	all = append(all, args...)
	h.log.Log(ctx, lv, "go-plugin: "+msg, all...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *hclogAdapter) IsTrace() bool                 { return h.log.Enabled(context.Background(), slog.LevelDebug-4) }
func (h *hclogAdapter) IsDebug() bool                 { return h.log.Enabled(context.Background(), slog.LevelDebug) }
func (h *hclogAdapter) IsInfo() bool                  { return h.log.Enabled(context.Background(), slog.LevelInfo) }
func (h *hclogAdapter) IsWarn() bool                  { return h.log.Enabled(context.Background(), slog.LevelWarn) }
func (h *hclogAdapter) IsError() bool                 { return h.log.Enabled(context.Background(), slog.LevelError) }
func (h *hclogAdapter) ImpliedArgs() []any            { return h.args }
func (h *hclogAdapter) Name() string                  { return h.name }
func (h *hclogAdapter) SetLevel(hclog.Level)          {}
func (h *hclogAdapter) GetLevel() hclog.Level         { return hclog.Off }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	return &hclogAdapter{log: h.log, name: h.name, args: append(append([]any(nil), h.args...), args...), logs: h.logs}
}

func (h *hclogAdapter) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return &hclogAdapter{log: h.log, name: name, args: h.args, logs: h.logs}
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return &hclogAdapter{log: h.log, name: name, args: h.args, logs: h.logs}
}

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return newStderrSink(newLogLimiter(h.log, LogLimit{}, time.Now), "go-plugin")
}
