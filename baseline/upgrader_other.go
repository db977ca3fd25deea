//go:build !linux && !darwin

package baseline

import (
	"context"
	"net"
)

// Upgrader hands listeners to a new process; on this platform [New]
// returns [ErrNotSupported] and no Upgrader exists.
type Upgrader struct{}

// New returns [ErrNotSupported]: listener hand-off needs Linux or macOS.
func New(Options) (*Upgrader, error) { return nil, ErrNotSupported }

func (*Upgrader) Binary() string                              { return "" }
func (*Upgrader) HasParent() bool                             { return false }
func (*Upgrader) Listen(string, string) (net.Listener, error) { return nil, ErrNotSupported }
func (*Upgrader) OnDrain(...func(context.Context) error)      {}
func (*Upgrader) Ready(context.Context) error                 { return ErrNotSupported }
func (*Upgrader) Exit() <-chan struct{}                       { return nil }
func (*Upgrader) Restart(context.Context) error               { return ErrNotSupported }
func (*Upgrader) Shutdown(context.Context) error              { return nil }

// InDrainHook reports false: no drain hook runs on this platform.
func InDrainHook() bool { return false }
