package hotgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/hotpatch-go/hotpatch/hotgrpc"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// ctxCheck is a slot that gets the call's context.
type ctxCheck = func(ctx context.Context, service string) error

// ctxHealth serves Check from the slot; Watch sends one answer, then
// either sends until the stream breaks (service "send-loop") and returns
// that error as a plain error, or returns the slot's error.
type ctxHealth struct {
	grpc_health_v1.UnimplementedHealthServer
	check   *registry.Func[ctxCheck]
	started chan struct{} // one value per call, once it is in the handler
}

var serving = &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}

func (h *ctxHealth) Check(ctx context.Context, req *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	h.started <- struct{}{}
	if err := h.check.Load()(ctx, req.Service); err != nil {
		return nil, err
	}
	return serving, nil
}

func (h *ctxHealth) Watch(req *grpc_health_v1.HealthCheckRequest, ss grpc_health_v1.Health_WatchServer) error {
	if err := ss.Send(serving); err != nil {
		return err
	}
	h.started <- struct{}{}
	if req.Service == "send-loop" {
		for {
			if err := ss.Send(serving); err != nil {
				return fmt.Errorf("send: %v", err) // not wrapped: an Unknown status
			}
		}
	}
	return h.check.Load()(ss.Context(), req.Service)
}

type ctxFixture struct {
	m      *hotswap.Manager
	h      *ctxHealth
	client grpc_health_v1.HealthClient
	done   chan struct{} // one value per call, once the interceptors returned
}

func newCtxFixture(t *testing.T, patch ctxCheck) *ctxFixture {
	t.Helper()
	reg := registry.New()
	check := registry.MustRegister(reg, "health.Check", func(context.Context, string) error { return nil })
	m, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1000, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p", Impls: map[string]any{"health.Check": patch}}); err != nil {
		t.Fatal(err)
	}
	f := &ctxFixture{m: m, h: &ctxHealth{check: check, started: make(chan struct{}, 16)}, done: make(chan struct{}, 16)}
	slotOf := func(string) string { return "health.Check" }
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			defer func() { f.done <- struct{}{} }()
			return h(ctx, req)
		}, hotgrpc.UnaryServerInterceptor(m, slotOf)),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			defer func() { f.done <- struct{}{} }()
			return h(srv, ss)
		}, hotgrpc.StreamServerInterceptor(m, slotOf)),
	)
	grpc_health_v1.RegisterHealthServer(srv, f.h)
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
	f.client = grpc_health_v1.NewHealthClient(conn)
	return f
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second): // a hang detector
		t.Fatalf("no %s", what)
	}
}

func (f *ctxFixture) counts(t *testing.T) (calls, failures int64) {
	t.Helper()
	wait(t, f.done, "end of the call on the server")
	p := f.m.Status().Stack[0].Probation
	return p.Calls, p.Failures
}

// TestClientCancelIsNoFault: a call the client cancelled is not the
// server's fault, whatever the handler returns once its context ended: a
// status of its own (a backend call cut by the cancellation), or the
// stream's broken send passed on as a plain error.
func TestClientCancelIsNoFault(t *testing.T) {
	t.Parallel()
	f := newCtxFixture(t, func(ctx context.Context, _ string) error {
		<-ctx.Done()
		return status.Errorf(codes.Unavailable, "backend call: %v", ctx.Err())
	})
	var want int64
	for _, stream := range []string{"", "wait", "send-loop"} {
		ctx, cancel := context.WithCancel(callCtx(t))
		var err error
		if stream == "" {
			go func() {
				defer cancel()
				select {
				case <-f.h.started:
				case <-time.After(20 * time.Second): // a hang detector: the call then fails below
				}
			}()
			_, err = f.client.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		} else {
			st, err2 := f.client.Watch(ctx, &grpc_health_v1.HealthCheckRequest{Service: stream})
			if err2 != nil {
				t.Fatal(err2)
			}
			if _, err2 := st.Recv(); err2 != nil {
				t.Fatal(err2)
			}
			wait(t, f.h.started, "stream call")
			cancel()
			for err == nil {
				_, err = st.Recv()
			}
		}
		cancel()
		if status.Code(err) != codes.Canceled {
			t.Fatalf("%q: client got %v", stream, err)
		}
		want++
		if calls, failures := f.counts(t); calls != want || failures != 0 {
			t.Errorf("%q: %d calls, %d failures; want %d and 0", stream, calls, failures, want)
		}
	}
}

// grpcStatusErr is an error of an application's own that carries a
// status.
type grpcStatusErr struct{ code codes.Code }

func (e grpcStatusErr) Error() string              { return "app error " + e.code.String() }
func (e grpcStatusErr) GRPCStatus() *status.Status { return status.New(e.code, e.Error()) }

// TestWrappedCodes: a status wrapped with %w, and an error type of its
// own that implements GRPCStatus (wrapped or not), count by their code.
func TestWrappedCodes(t *testing.T) {
	t.Parallel()
	byService := map[string]error{
		"wrapped-notfound": fmt.Errorf("lookup: %w", status.Error(codes.NotFound, "no such")),
		"wrapped-internal": fmt.Errorf("lookup: %w", status.Error(codes.Internal, "broken")),
		"own-invalid":      grpcStatusErr{codes.InvalidArgument},
		"own-dataloss":     grpcStatusErr{codes.DataLoss},
		"wrapped-own-perm": fmt.Errorf("auth: %w", grpcStatusErr{codes.PermissionDenied}),
		"wrapped-own-unav": fmt.Errorf("db: %w", grpcStatusErr{codes.Unavailable}),
		"joined-canceled":  errors.Join(errors.New("cleanup failed"), context.Canceled),
	}
	faults := map[string]bool{"wrapped-internal": true, "own-dataloss": true, "wrapped-own-unav": true}
	f := newCtxFixture(t, func(_ context.Context, s string) error { return byService[s] })
	var calls, failures int64
	for s, want := range byService {
		_, err := f.client.Check(callCtx(t), &grpc_health_v1.HealthCheckRequest{Service: s})
		wait(t, f.h.started, "call")
		if wantCode := status.Code(want); s != "joined-canceled" && status.Code(err) != wantCode {
			t.Errorf("%s: client got %v, want %v", s, err, wantCode)
		}
		calls++
		if faults[s] {
			failures++
		}
		if c, fl := f.counts(t); c != calls || fl != failures {
			t.Errorf("after %s: %d calls, %d failures; want %d, %d", s, c, fl, calls, failures)
		}
	}
}

// TestBadInput: a nil manager or slot function is refused when the
// interceptor is made, with a message naming what is missing, not on the
// first call (gRPC does not recover a panic in an interceptor: it would
// end the server).
func TestBadInput(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	slotOf := func(string) string { return "" }
	for _, tc := range []struct {
		what string
		make func()
	}{
		{"manager", func() { hotgrpc.UnaryServerInterceptor(nil, slotOf) }},
		{"slot", func() { hotgrpc.UnaryServerInterceptor(m, nil) }},
		{"manager", func() { hotgrpc.StreamServerInterceptor(nil, slotOf) }},
		{"slot", func() { hotgrpc.StreamServerInterceptor(m, nil) }},
	} {
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), tc.what) {
					t.Errorf("nil %s: panic %v, want one naming it", tc.what, v)
				}
			}()
			tc.make()
		}()
	}
}
