package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hotpatch-go/hotpatch/admin/api"
)

// The client side of the admin API (package admin): `hotpatch status`,
// `push`, `revert`, `history`, `events` and `restart`. It links net/http,
// encoding/json and the wire types of admin/api only.

// errUnreachable marks a server that could not be reached or that refused
// the credentials (401, 403): exit status 3.
var errUnreachable = errors.New("unreachable or not authorized")

// remoteFlags are the flags every admin command takes.
type remoteFlags struct {
	addr, token, cert, key, ca string
	asJSON                     bool
	timeout                    time.Duration
}

func (rf *remoteFlags) declare(fs *flag.FlagSet, timeout time.Duration) {
	fs.StringVar(&rf.addr, "addr", "", "the server: unix:///path/to/admin.sock or https://host:port (default $HOTPATCH_ADDR)")
	fs.StringVar(&rf.token, "token", "", "the bearer `token` for https (default $HOTPATCH_TOKEN)")
	fs.StringVar(&rf.cert, "cert", "", "a client certificate `file` (PEM) for https, with --key")
	fs.StringVar(&rf.key, "key", "", "the client certificate's private key `file` (PEM)")
	fs.StringVar(&rf.ca, "ca", "", "a CA `file` (PEM) the server's certificate chains to (default: the system's)")
	fs.BoolVar(&rf.asJSON, "json", false, "print the server's JSON answer")
	fs.DurationVar(&rf.timeout, "timeout", timeout, "give up after this long (0: never)")
}

// remoteHelp is the part of every admin command's help about addresses,
// credentials and exit codes.
const remoteHelp = `
The server is --addr or $HOTPATCH_ADDR: unix:///path/to/admin.sock (the
server checks the caller's uid) or https://host:port with --token (or
$HOTPATCH_TOKEN) and/or --cert and --key; --ca names the CA of the
server's certificate. Exit status: 0 done, 1 refused or failed (the
server's reason is printed), 2 a command line it cannot use, 3 the
server is unreachable or refused the credentials.`

// client is a connection to one admin server.
type client struct {
	http  *http.Client
	base  string
	token string
	addr  string // as the user gave it, for messages
}

func (rf *remoteFlags) client() (*client, error) {
	addr := rf.addr
	if addr == "" {
		addr = os.Getenv("HOTPATCH_ADDR")
	}
	if addr == "" {
		return nil, usageError("no server: give --addr unix:///path.sock or --addr https://host:port (or set HOTPATCH_ADDR)")
	}
	token, from := rf.token, "--token"
	if token == "" {
		token, from = os.Getenv("HOTPATCH_TOKEN"), "HOTPATCH_TOKEN"
	}
	// A token read from a file often ends in a newline: surrounding
	// white space is not part of it; inside, nothing but visible ASCII.
	token = strings.TrimSpace(token)
	if i := strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }); i >= 0 {
		return nil, usageError("%s: the token holds a space or a control character at byte %d; a token is visible ASCII", from, i)
	}
	// unix:PATH, unix://PATH and unix:///abs/path: the rest is the path
	// as written (no URL decoding, so '%', '?' and '#' are file name
	// characters).
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return nil, usageError("--addr %q names no socket (unix:///path/to/admin.sock)", addr)
		}
		if rf.token != "" || rf.cert != "" { // $HOTPATCH_TOKEN, set for other servers, is not used here
			return nil, usageError("--token and --cert are for https; the socket checks the caller's uid")
		}
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
		return &client{http: &http.Client{Transport: tr}, base: "http://admin", addr: addr}, nil
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, usageError("--addr %q: %v", addr, err)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return nil, usageError("--addr %q names no host (https://host:port)", addr)
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if rf.ca != "" {
			pem, err := os.ReadFile(rf.ca)
			if err != nil {
				return nil, fmt.Errorf("--ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca %s: no PEM certificate in it", rf.ca)
			}
		}
		if (rf.cert == "") != (rf.key == "") {
			return nil, usageError("--cert and --key go together")
		}
		if rf.cert != "" {
			c, err := tls.LoadX509KeyPair(rf.cert, rf.key)
			if err != nil {
				return nil, fmt.Errorf("--cert/--key: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		if token == "" && rf.cert == "" {
			return nil, usageError("https needs credentials: --token (or HOTPATCH_TOKEN) or --cert and --key")
		}
		return &client{http: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}, base: "https://" + u.Host, token: token, addr: addr}, nil
	default:
		return nil, usageError("--addr %q: the scheme is unix:// or https:// (the server serves nothing else)", addr)
	}
}

// do sends a request and returns the answer's body; an answer of 400 or
// more is an error with the server's reason.
func (c *client) do(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	resp, err := c.open(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", errUnreachable, err)
	}
	return data, nil
}

// open sends a request and returns the response of a call that
// succeeded; the caller closes its body.
func (c *client) open(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // not the made-up URL of a socket
		}
		return nil, fmt.Errorf("%w: %s %s at %s: %v", errUnreachable, method, path, c.addr, err)
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e api.Error
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	msg = text(msg)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("%w: %s (%d)", errUnreachable, msg, resp.StatusCode)
	}
	return nil, fmt.Errorf("%s (%d %s)", msg, resp.StatusCode, http.StatusText(resp.StatusCode))
}

// call runs one call with the flags' timeout and prints its JSON answer
// with --json, or hands it to human.
func (rf *remoteFlags) call(ctx context.Context, method, path string, body io.Reader, stdout io.Writer, out any, human func()) error {
	c, err := rf.client()
	if err != nil {
		return err
	}
	if rf.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rf.timeout)
		defer cancel()
	}
	data, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if rf.asJSON {
		var buf bytes.Buffer
		if json.Indent(&buf, data, "", "  ") != nil {
			buf.Reset()
			buf.Write(data)
		}
		_, err := fmt.Fprintln(stdout, strings.TrimSpace(buf.String()))
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	human()
	return nil
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvents reads server-sent events from r until it ends, calling fn
// for each; an "end" event (the server closed) ends it too.
func readEvents(r io.Reader, fn func(sseEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name == "end" {
				return nil
			}
			if ev.data != "" {
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			ev.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	return sc.Err()
}
