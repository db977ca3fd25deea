package hotgrpc_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/hotpatch-go/hotpatch/hotgrpc"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestChainedTwice: the interceptors installed twice for one slot (a
// shared server option set plus the service's own) count each call and
// each failure once, as the docs say ("each failure counts once"): the
// inner one turned a panic into Internal and counted it, and the outer one
// counted that Internal again, with two calls per call, so a Failures
// threshold rolled the patch back at half its failed calls.
func TestChainedTwice(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	check := registry.MustRegister(reg, "health.Check", func(string) error { return nil })
	m, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	slotOf := func(string) string { return "health.Check" }
	u, s := hotgrpc.UnaryServerInterceptor(m, slotOf), hotgrpc.StreamServerInterceptor(m, slotOf)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(u, u), grpc.ChainStreamInterceptor(s, s))
	grpc_health_v1.RegisterHealthServer(srv, &health{check: check})
	lis := bufconn.Listen(1 << 16)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		wg.Wait()
	})
	f := &fixture{m: m, check: check, client: grpc_health_v1.NewHealthClient(conn)}
	f.apply(t, "bad", func(string) error { panic("bad patch") })
	if _, err := f.client.Check(callCtx(t), &grpc_health_v1.HealthCheckRequest{}); err == nil {
		t.Fatal("Check of a panicking patch succeeded")
	}
	if err := f.watch(t, ""); err == nil {
		t.Fatal("Watch of a panicking patch succeeded")
	}
	if pr := f.probation(t); pr.Calls != 2 || pr.Failures != 2 {
		t.Fatalf("2 failed calls through interceptors chained twice: calls %d, failures %d; want 2 and 2", pr.Calls, pr.Failures)
	}
}
