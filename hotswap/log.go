package hotswap

import (
	"context"
	"log/slog"
)

// logLevel is the level e is logged at.
func logLevel(e Event) slog.Level {
	if e.Err != nil && e.Type != EventReverted {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func (m *Manager) logEvent(e Event) {
	level := logLevel(e)
	if !m.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("event", string(e.Type)),
		slog.Uint64("gen", e.Generation),
	}
	if e.PatchID != "" {
		attrs = append(attrs, slog.String("patch", e.PatchID))
	}
	if e.Kind != "" {
		attrs = append(attrs, slog.String("kind", string(e.Kind)))
	}
	if e.Source != "" {
		attrs = append(attrs, slog.String("source", e.Source))
	}
	if len(e.Slots) > 0 {
		attrs = append(attrs, slog.Any("slots", e.Slots))
	}
	if e.Note != "" {
		attrs = append(attrs, slog.String("note", e.Note))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("err", e.Err.Error()))
	}
	_ = runUnlocked(func() error {
		// A handler that panics loses its record, nothing more: the
		// change that logs has happened, and what follows the log (the
		// retires a change starts, a retire's wait group) must still run.
		defer func() { _ = recover() }()
		m.log.LogAttrs(context.Background(), level, "hotswap: "+string(e.Type), attrs...)
		return nil
	})
}

// logDebug logs a record that is not an event (a failure report) the way
// events are logged: as user code with no lock held, a panic lost.
func (m *Manager) logDebug(msg string, args ...any) {
	if !m.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	_ = runUnlocked(func() error {
		defer func() { _ = recover() }()
		m.log.Debug(msg, args...)
		return nil
	})
}
