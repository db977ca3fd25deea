package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

var (
	// ErrNoListener is returned by [Start] when the options name neither
	// a socket nor a TCP address.
	ErrNoListener = errors.New("admin: no socket and no TCP address")
	// ErrInsecureTCP is returned by [Start] for a TCP address without TLS,
	// or without a token and a client CA: nothing is served on TCP
	// without credentials.
	ErrInsecureTCP = errors.New("admin: TCP needs TLS and a bearer token or client certificates")
	// ErrSocketInUse is returned by [Start] when another process serves
	// the socket.
	ErrSocketInUse = errors.New("admin: socket in use by another process")
	// ErrNotSupported is returned by [Start] for a unix socket where the
	// peer's credentials cannot be read.
	ErrNotSupported = errors.New("admin: peer credentials are not supported on this platform")
)

// DefaultMaxPush is the default limit of a pushed bundle's size.
const DefaultMaxPush = 256 << 20

// DefaultBodyTimeout is the default of Options.BodyTimeout.
const DefaultBodyTimeout = 5 * time.Minute

// streamWrite bounds each write of an event stream: a client that stops
// reading is dropped after it, and Close does not wait for it longer.
const streamWrite = 10 * time.Second

// sunPathMax is the size of a unix socket address's path (sun_path) on
// Linux; macOS's is 104 and its kernel says so itself.
const sunPathMax = 108

// Options configure a [Server]. At least one of Socket and TCP is set.
type Options struct {
	// Socket is the path of the unix socket (created mode 0600; a stale
	// one is replaced, one another process serves is an error). A
	// relative path is made absolute at Start, so a later chdir does not
	// move it, unless the absolute path is too long for the kernel (108
	// bytes on Linux): then do not chdir while it is served.
	Socket string
	// AllowUIDs are the users, besides the process's own and root, whose
	// peers the socket serves.
	AllowUIDs []int
	// TCP is a "host:port" to serve on as well, with TLS (TLS must hold
	// the server's certificate) and at least one of Tokens and ClientCAs.
	TCP string
	// TLS is the server's TLS configuration for TCP; it is cloned.
	TLS *tls.Config
	// Tokens are the bearer tokens TCP accepts, by name: the audit names
	// the token, never shows it, so each needs a name that is not empty
	// and a value of its own (at least 16 bytes). With ClientCAs too, both
	// are required.
	Tokens map[string]string
	// ClientCAs, if set, makes TCP require a client certificate that
	// chains to it; the audit names its subject.
	ClientCAs *x509.CertPool
	// MaxPush limits a pushed bundle's size (a larger one gets 413); 0
	// means [DefaultMaxPush], a negative value no limit.
	MaxPush int64
	// BodyTimeout bounds the reading of a request's body, so that a
	// client that sends it slowly, or stops, does not hold a connection
	// and its goroutine for ever (the connection is closed); 0 means
	// [DefaultBodyTimeout].
	BodyTimeout time.Duration
	// Listen, if set, makes the listeners (a baseline step's Listen, so
	// that the next process inherits them); nil means net.Listen.
	Listen func(network, addr string) (net.Listener, error)
	// Logger receives the refusals and the audit records; nil discards.
	Logger *slog.Logger
}

// Target is what the server operates on.
type Target struct {
	Manager *hotswap.Manager
	// Bundles loads pushed bundles (the runtime's bundle loader, so a
	// pushed bundle passes the checks of the watched directory); nil
	// refuses pushes (501).
	Bundles hotswap.Loader
	// Journal records pushed patches; nil refuses pushes (501), which
	// could not survive a restart.
	Journal Journal
	// Restarter runs the baseline step; nil answers restart with 501.
	Restarter Restarter
	// Fingerprint is the running binary's fingerprint hash, for status.
	Fingerprint string
}

// Journal is the part of a journal (package baseline/journal) the server
// uses.
type Journal interface {
	Dir() string
	Identity() string
	Sync(ctx context.Context) error
	// SyncTo waits for the changes up to generation gen only: a push
	// answers for its own patch, not for one pushed after it.
	SyncTo(ctx context.Context, gen uint64) error
}

// Restarter is the part of a baseline step (package baseline) the server
// uses.
type Restarter interface {
	Restart(ctx context.Context) error
}

// Server serves the admin API until [Server.Close].
type Server struct {
	opts Options
	tgt  Target
	log  *slog.Logger
	uid  int
	// closing ends when Close begins (cancelClosing): event streams end.
	closing       context.Context
	cancelClosing context.CancelFunc
	pushM         sync.Mutex          // guards the files of the pushed directory and pushRefs
	pushRefs      map[string]*pushRef // stored bundles in use by pushes in flight, by SHA-256

	srvs      []*http.Server
	lns       []net.Listener
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start listens as opts say and serves tgt. Close the server before
// closing the manager.
func Start(tgt Target, opts Options) (*Server, error) {
	if tgt.Manager == nil {
		return nil, errors.New("admin: Target.Manager is nil")
	}
	if opts.Socket == "" && opts.TCP == "" {
		return nil, ErrNoListener
	}
	if opts.TCP != "" {
		if opts.TLS == nil || len(opts.TLS.Certificates) == 0 && opts.TLS.GetCertificate == nil {
			return nil, fmt.Errorf("%w: Options.TLS has no certificate for %s", ErrInsecureTCP, opts.TCP)
		}
		if len(opts.Tokens) == 0 && opts.ClientCAs == nil {
			return nil, fmt.Errorf("%w: set Options.Tokens or Options.ClientCAs for %s", ErrInsecureTCP, opts.TCP)
		}
		// The audit names the token that was shown: a name must be there
		// and tell one token from the others.
		names := slices.Sorted(maps.Keys(opts.Tokens))
		byToken := make(map[string]string, len(names))
		for _, name := range names {
			tok := opts.Tokens[name]
			switch other, dup := byToken[tok]; {
			case name == "":
				return nil, fmt.Errorf("%w: a token in Options.Tokens has an empty name; the audit names the token a call showed", ErrInsecureTCP)
			case len(tok) < 16:
				return nil, fmt.Errorf("%w: token %q is %d bytes, at least 16 are needed", ErrInsecureTCP, name, len(tok))
			case dup:
				return nil, fmt.Errorf("%w: tokens %q and %q are the same token; the audit could not tell who called: give each its own", ErrInsecureTCP, other, name)
			}
			byToken[tok] = name
		}
	}
	if abs, err := filepath.Abs(opts.Socket); opts.Socket != "" && err == nil && len(abs) < sunPathMax {
		// The listener removes its socket at Close by the path it was
		// given: a relative one would name a file of the working
		// directory of that moment.
		opts.Socket = abs
	}
	switch {
	case opts.MaxPush == 0:
		opts.MaxPush = DefaultMaxPush
	case opts.MaxPush < 0:
		opts.MaxPush = math.MaxInt64
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	listen := opts.Listen
	if listen == nil {
		listen = net.Listen
	}
	s := &Server{opts: opts, tgt: tgt, log: log, uid: os.Getuid()}
	s.closing, s.cancelClosing = context.WithCancel(context.Background())
	if opts.Socket != "" {
		ln, err := listenUnix(opts.Socket, listen)
		if err != nil {
			_ = s.Close(context.Background())
			return nil, err
		}
		s.serve(ln, nil, s.unixAuth)
	}
	if opts.TCP != "" {
		ln, err := listen("tcp", opts.TCP)
		if err != nil {
			_ = s.Close(context.Background())
			return nil, fmt.Errorf("admin: listen on %s: %w", opts.TCP, err)
		}
		tc := opts.TLS.Clone()
		if opts.ClientCAs != nil {
			// Verified in the handler, so that a refused certificate gets a
			// 403 and a record that names it, not a failed handshake.
			tc.ClientAuth = tls.RequestClientCert
		}
		s.serve(ln, tc, s.tcpAuth)
	}
	return s, nil
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

func (s *Server) serve(ln net.Listener, tc *tls.Config, auth func(*http.Request) (string, int, error)) {
	srv := &http.Server{
		Handler:           s.handler(auth),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       connContext,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	s.srvs = append(s.srvs, srv)
	s.lns = append(s.lns, ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
}

// Close stops serving: the event streams end, the requests under way
// finish (until ctx ends, then their connections are closed), and the
// socket file is removed. Close is safe to call more than once.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.cancelClosing()
		var errs []error
		for _, srv := range s.srvs {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
				errs = append(errs, err)
			}
		}
		s.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("admin: close: %w", err)
		}
	})
	return s.closeErr
}
