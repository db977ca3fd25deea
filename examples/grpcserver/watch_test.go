package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestStopEndsHealthWatches: a client watching the health service (as
// load balancers and service meshes do) does not hold the graceful stop
// up to its deadline: its watch ends, Canceled, and the stop is clean
// (GracefulStop returns; serve returns nil). Before, the watch held
// GracefulStop until the deadline, which cut it with Unavailable and
// made serve fail.
func TestStopEndsHealthWatches(t *testing.T) {
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	args := []string{"-addr", "127.0.0.1:0", "-patches", filepath.Join(t.TempDir(), "patches")}
	go func() { done <- serve(ctx, args, nil, logs, func(a string) { addrc <- a }, false) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("the server did not start: %v\n%s", err, logs)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch answer: %v, %v", r, err)
	}
	cancel() // the stop
	var code codes.Code
	for {
		r, err := watch.Recv()
		if err != nil {
			code = status.Code(err)
			break
		}
		if r.Status == healthpb.HealthCheckResponse_SERVING {
			t.Errorf("the watch said SERVING after the stop began")
		}
	}
	if code != codes.Canceled {
		t.Errorf("the watch ended with %s, want Canceled (ended by the stop, not cut at its deadline)", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v; want a clean graceful stop\n%s", err, logs)
		}
	case <-time.After(2 * stopTimeout): // a hang detector
		t.Fatal("serve did not return")
	}
}
