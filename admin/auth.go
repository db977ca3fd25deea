package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
)

// errNoCredentials is a request that showed none (401); any other error
// of an auth func is a refusal of what it showed (403).
var errNoCredentials = errors.New("no credentials")

type peerKey struct{}

// peer is what the kernel says about the process at the other end of a
// unix socket connection.
type peer struct {
	uid, pid int
	err      error
}

// connContext reads the peer's credentials once per connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if uc, ok := c.(*net.UnixConn); ok {
		uid, pid, err := peerCred(uc)
		return context.WithValue(ctx, peerKey{}, peer{uid: uid, pid: pid, err: err})
	}
	return ctx
}

// unixAuth admits the peers of the process's own user, root and
// Options.AllowUIDs.
func (s *Server) unixAuth(r *http.Request) (string, int, error) {
	p, ok := r.Context().Value(peerKey{}).(peer)
	switch {
	case !ok:
		return "", http.StatusUnauthorized, errNoCredentials
	case p.err != nil:
		return "", http.StatusUnauthorized, fmt.Errorf("peer credentials: %w", p.err)
	}
	who := fmt.Sprintf("uid=%d pid=%d", p.uid, p.pid)
	if p.uid != s.uid && p.uid != 0 && !slices.Contains(s.opts.AllowUIDs, p.uid) {
		return who, http.StatusForbidden, fmt.Errorf("uid %d is not allowed (the server's uid %d, root and Options.AllowUIDs are)", p.uid, s.uid)
	}
	return who, 0, nil
}

// tcpAuth checks the client certificate (with ClientCAs) and the bearer
// token (with Tokens); with both, both must pass.
func (s *Server) tcpAuth(r *http.Request) (string, int, error) {
	var who []string
	if s.opts.ClientCAs != nil {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return "", http.StatusUnauthorized, fmt.Errorf("%w: no client certificate", errNoCredentials)
		}
		leaf := r.TLS.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		subj := "cert " + leaf.Subject.String()
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.opts.ClientCAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return subj, http.StatusForbidden, fmt.Errorf("client certificate refused: %w", err)
		}
		who = append(who, subj)
	}
	if len(s.opts.Tokens) > 0 {
		h := r.Header.Get("Authorization")
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || tok == "" { // the scheme is case-insensitive (RFC 9110)
			return strings.Join(who, " "), http.StatusUnauthorized, fmt.Errorf("%w: no bearer token", errNoCredentials)
		}
		name, ok := s.token(tok)
		if !ok {
			return strings.Join(who, " "), http.StatusForbidden, errors.New("bearer token not known")
		}
		who = append(who, "token "+name)
	}
	return strings.Join(who, " "), 0, nil
}

// token finds the name of tok, comparing in constant time with every
// known token (their hashes, so that lengths do not show either).
func (s *Server) token(tok string) (string, bool) {
	got := sha256.Sum256([]byte(tok))
	found := ""
	for name, t := range s.opts.Tokens {
		want := sha256.Sum256([]byte(t))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			found = name
		}
	}
	return found, found != ""
}

// listenUnix listens on the socket at path, mode 0600. A stale socket
// file (nobody answers) is replaced; a live one is an error.
func listenUnix(path string, listen func(string, string) (net.Listener, error)) (net.Listener, error) {
	if err := checkPeerSupport(); err != nil {
		return nil, err
	}
	if len(path) >= sunPathMax {
		return nil, fmt.Errorf("admin: socket path %s is %d bytes, the kernel takes at most %d: choose a shorter path (admin.Options.Socket)", path, len(path), sunPathMax-1)
	}
	ln, err := listen("unix", path)
	if err != nil {
		fi, serr := os.Lstat(path)
		if serr != nil || fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin: listen on %s: %w", path, err)
		}
		if c, derr := net.Dial("unix", path); derr == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrSocketInUse, path)
		}
		if rerr := os.Remove(path); rerr != nil {
			return nil, fmt.Errorf("admin: remove stale socket %s: %w", path, rerr)
		}
		if ln, err = listen("unix", path); err != nil {
			return nil, fmt.Errorf("admin: listen on %s: %w", path, err)
		}
	}
	// The peer check refuses other users anyway; the mode keeps them from
	// connecting at all.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: socket %s: %w", path, err)
	}
	return ln, nil
}
