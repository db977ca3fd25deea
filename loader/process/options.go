package process

import (
	"log/slog"
	"time"
)

// Defaults for zero fields of [Options] and [RestartPolicy].
const (
	DefaultStartTimeout   = 10 * time.Second
	DefaultGrace          = 30 * time.Second
	DefaultConns          = 2
	DefaultMaxRestarts    = 5
	DefaultRestartWindow  = time.Minute
	DefaultRestartBackoff = 100 * time.Millisecond

	// DefaultLogLines, DefaultLogBytes and DefaultLogLineBytes are the
	// defaults of [LogLimit].
	DefaultLogLines     = 1000
	DefaultLogBytes     = 1 << 20
	DefaultLogLineBytes = 16 << 10

	// DefaultMaxFileSize bounds the size of a plugin executable.
	DefaultMaxFileSize = 1 << 30

	// maxBackoff caps the delay between two restart attempts.
	maxBackoff = 5 * time.Second
)

// Options configure a [Loader]. The zero value is ready to use: a zero
// field means the matching Default constant.
type Options struct {
	// Logger receives the loader's records and the plugins' standard
	// error and logs, each with the patch ID. nil discards.
	Logger *slog.Logger
	// StartTimeout bounds bringing a process up: start, handshake, health
	// check and the slot report.
	StartTimeout time.Duration
	// Grace bounds how long a replaced or reverted process may take to
	// finish the calls in flight before it is stopped.
	Grace time.Duration
	// Conns is the number of call channel connections per process.
	Conns int
	// Restart says how a process that dies is restarted.
	Restart RestartPolicy
	// LogLimit bounds what each plugin process may write into the host's
	// log.
	LogLimit LogLimit
	// MaxFileSize refuses larger executables before reading them.
	MaxFileSize int64
}

// LogLimit is a token bucket per plugin process for everything it logs:
// its standard error and output, forwarded or not, and its log records. At
// most Lines lines and Bytes bytes a second reach the host's logger, in
// bursts of up to one second's worth; the rest are dropped, and the host
// logs a warning when dropping starts and then how many lines and bytes
// were dropped, every few seconds while it goes on and when the process
// ends. Lines longer than LineBytes are cut (the record says by how much).
// A zero field means its default; a negative Lines or Bytes means no limit
// of that kind.
type LogLimit struct {
	Lines     int
	Bytes     int
	LineBytes int
}

func (l LogLimit) withDefaults() LogLimit {
	if l.Lines == 0 {
		l.Lines = DefaultLogLines
	}
	if l.Bytes == 0 {
		l.Bytes = DefaultLogBytes
	}
	if l.LineBytes <= 0 {
		l.LineBytes = DefaultLogLineBytes
	}
	return l
}

// RestartPolicy restarts a patch's process when it exits or a call panics,
// waiting Backoff before the first attempt and twice as long before each
// next one (up to 5 s). When more than MaxRestarts restarts are needed
// within Window, the loader gives up: the patch is rolled back through
// host (the manager the patch was loaded for), and its slots fail with
// [ErrUnavailable] until then.
type RestartPolicy struct {
	MaxRestarts int // negative: never restart
	Window      time.Duration
	Backoff     time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Conns <= 0 {
		o.Conns = DefaultConns
	}
	if o.Restart.MaxRestarts == 0 {
		o.Restart.MaxRestarts = DefaultMaxRestarts
	}
	if o.Restart.Window <= 0 {
		o.Restart.Window = DefaultRestartWindow
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	o.LogLimit = o.LogLimit.withDefaults()
	if o.Restart.Backoff <= 0 {
		o.Restart.Backoff = DefaultRestartBackoff
	}
	return o
}
