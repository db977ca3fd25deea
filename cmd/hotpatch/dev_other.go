//go:build !linux

package main

import (
	"context"
	"os"
	"time"
)

// devServer is linux only: see dev_linux.go.
type devServer struct {
	logs logWatch
	pgid int
}

func startDevServer(string, []string, *devOut) (*devServer, error) { return nil, errDevNotSupported }

func (*devServer) pid() int                                            { return 0 }
func (*devServer) alive() bool                                         { return false }
func (*devServer) running() bool                                       { return false }
func (*devServer) exitDesc() string                                    { return "" }
func (*devServer) stop(<-chan os.Signal, func(string)) error           { return nil }
func (*devServer) restart(context.Context, time.Duration) (int, error) { return 0, errDevNotSupported }

func killBuilds(string, int) {}
