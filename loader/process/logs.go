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
	maxLine   = 64 << 10
)

// stderrSink logs a plugin's standard error and keeps its tail.
type stderrSink struct {
	log    *slog.Logger
	stream string

	mu      sync.Mutex // guards the fields below
	partial []byte
	tail    []string
	size    int
	inPanic bool
}

func newStderrSink(log *slog.Logger, stream string) *stderrSink {
	return &stderrSink{log: log, stream: stream}
}

func (s *stderrSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			if len(s.partial) > maxLine {
				s.line(s.partial)
				s.partial = s.partial[:0]
			}
			break
		}
		if len(s.partial) > 0 {
			s.partial = append(s.partial, p[:i]...)
			s.line(s.partial)
			s.partial = s.partial[:0]
		} else {
			s.line(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

// Flush logs a last line that had no newline.
func (s *stderrSink) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.line(s.partial)
		s.partial = s.partial[:0]
	}
}

// Tail returns the last lines written.
func (s *stderrSink) Tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// line handles one line; the caller holds mu.
func (s *stderrSink) line(b []byte) {
	text := strings.TrimRight(string(b), "\r")
	s.tail = append(s.tail, text)
	s.size += len(text)
	for len(s.tail) > 1 && (len(s.tail) > tailLines || s.size > tailBytes) {
		s.size -= len(s.tail[0])
		s.tail = s.tail[1:]
	}
	if text == "" {
		return
	}
	ctx := context.Background()
	if !s.inPanic && strings.HasPrefix(text, "{") {
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
				if !s.log.Enabled(ctx, level) {
					return
				}
				attrs := make([]slog.Attr, 0, len(rec)+1)
				attrs = append(attrs, slog.String("stream", s.stream))
				for k, v := range rec {
					switch k {
					case "@message", "@level", "@timestamp", slog.TimeKey, slog.LevelKey, slog.MessageKey:
						continue
					}
					attrs = append(attrs, slog.Any(strings.TrimPrefix(k, "@"), v))
				}
				s.log.LogAttrs(ctx, level, msg, attrs...)
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
	s.log.LogAttrs(ctx, level, text, slog.String("stream", s.stream))
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

// newPluginLogHandler returns the slog handler of a plugin: JSON records,
// which the host's stderrSink logs with their level and attributes.
func newPluginLogHandler(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
}

// hclogAdapter lets go-plugin's host-side logging reach a slog logger. It
// reports level Off so that go-plugin leaves the plugin's stderr lines to
// stderrSink (see above), but it forwards what go-plugin itself logs.
type hclogAdapter struct {
	log  *slog.Logger
	name string
	args []any
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
	ctx := context.Background()
	if !h.log.Enabled(ctx, lv) {
		return
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
	return &hclogAdapter{log: h.log, name: h.name, args: append(append([]any(nil), h.args...), args...)}
}

func (h *hclogAdapter) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return &hclogAdapter{log: h.log, name: name, args: h.args}
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return &hclogAdapter{log: h.log, name: name, args: h.args}
}

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return newStderrSink(h.log, "go-plugin")
}

// lineWriter logs each line written to it; it receives a plugin's
// forwarded standard output and standard error.
func lineWriter(log *slog.Logger, stream string) io.Writer { return newStderrSink(log, stream) }
