package hotgrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkFunc is the slot behind both methods of the health service.
type checkFunc = func(service string) error

// health serves grpc.health.v1 from the slot: Check answers once, Watch
// sends one answer and ends the stream with the slot's error.
type health struct {
	grpc_health_v1.UnimplementedHealthServer
	check *registry.Func[checkFunc]
}

func (h *health) Check(_ context.Context, req *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	if err := h.check.Load()(req.Service); err != nil {
		return nil, err
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

func (h *health) Watch(req *grpc_health_v1.HealthCheckRequest, ss grpc_health_v1.Health_WatchServer) error {
	if err := ss.Send(&grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	return h.check.Load()(req.Service)
}

type fixture struct {
	m      *hotswap.Manager
	check  *registry.Func[checkFunc]
	client grpc_health_v1.HealthClient
}

// newFixture serves the health service over bufconn, through a real gRPC
// server with both interceptors, and dials it.
func newFixture(t *testing.T, pol hotswap.RollbackPolicy) *fixture {
	t.Helper()
	reg := registry.New()
	check := registry.MustRegister(reg, "health.Check", func(string) error { return nil })
	m, err := hotswap.New(reg, hotswap.Options{Rollback: pol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	slots := map[string]string{
		"/grpc.health.v1.Health/Check": "health.Check",
		"/grpc.health.v1.Health/Watch": "health.Check",
	}
	slotOf := func(method string) string { return slots[method] }
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(hotgrpc.UnaryServerInterceptor(m, slotOf)),
		grpc.ChainStreamInterceptor(hotgrpc.StreamServerInterceptor(m, slotOf)),
	)
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
	return &fixture{m: m, check: check, client: grpc_health_v1.NewHealthClient(conn)}
}

func (f *fixture) apply(t *testing.T, id string, fn checkFunc) {
	t.Helper()
	if _, err := f.m.Apply(context.Background(), hotswap.Patch{ID: id, Impls: map[string]any{"health.Check": fn}}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) probation(t *testing.T) *hotswap.Probation {
	t.Helper()
	st := f.m.Status()
	if len(st.Stack) != 1 || st.Stack[0].Probation == nil {
		t.Fatalf("stack %+v", st.Stack)
	}
	return st.Stack[0].Probation
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
	t.Cleanup(cancel)
	return ctx
}

// watch runs one Watch stream to its end and returns its final error.
func (f *fixture) watch(t *testing.T, service string) error {
	t.Helper()
	st, err := f.client.Watch(callCtx(t), &grpc_health_v1.HealthCheckRequest{Service: service})
	if err != nil {
		return err
	}
	for {
		if _, err := st.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// TestCodes: the codes that say the server is at fault count as failures
// of the patch that served, the others as successes; both interceptors
// pass the handler's status through.
func TestCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.RollbackPolicy{Failures: 1000, Window: time.Hour})
	byService := map[string]error{
		"ok":        nil,
		"unknown":   errors.New("not a status"),
		"internal":  status.Error(codes.Internal, "broken"),
		"unavail":   status.Error(codes.Unavailable, "down"),
		"dataloss":  status.Error(codes.DataLoss, "lost"),
		"notfound":  status.Error(codes.NotFound, "no such service"),
		"invalid":   status.Error(codes.InvalidArgument, "bad"),
		"deadline":  status.Error(codes.DeadlineExceeded, "too slow for the client"),
		"canceled":  context.Canceled,
		"exhausted": status.Error(codes.ResourceExhausted, "quota"),
	}
	f.apply(t, "p", func(s string) error { return byService[s] })
	faults := map[string]bool{"unknown": true, "internal": true, "unavail": true, "dataloss": true}
	var calls, failures int64
	for service, want := range byService {
		wantCode := status.Code(want)
		if errors.Is(want, context.Canceled) {
			wantCode = codes.Canceled
		}
		_, err := f.client.Check(callCtx(t), &grpc_health_v1.HealthCheckRequest{Service: service})
		if got := status.Code(err); got != wantCode {
			t.Errorf("Check(%s) = %v, want code %v", service, err, wantCode)
		}
		if got := status.Code(f.watch(t, service)); got != wantCode {
			t.Errorf("Watch(%s) code %v, want %v", service, got, wantCode)
		}
		calls += 2
		if faults[service] {
			failures += 2
		}
		if p := f.probation(t); p.Calls != calls || p.Failures != failures {
			t.Fatalf("after %s: %d calls, %d failures; want %d, %d", service, p.Calls, p.Failures, calls, failures)
		}
	}
}

// TestPanicsRecoveredAndRolledBack: a handler that panics answers
// codes.Internal without the panic value, the server lives on, and the
// patch is rolled back at its threshold.
func TestPanicsRecoveredAndRolledBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.RollbackPolicy{Failures: 3, Window: time.Hour})
	events, cancel := f.m.Subscribe(16)
	defer cancel()
	f.apply(t, "bad", func(string) error { panic("secret detail") })
	for i := range 3 {
		var err error
		if i%2 == 0 {
			_, err = f.client.Check(callCtx(t), &grpc_health_v1.HealthCheckRequest{})
		} else {
			err = f.watch(t, "")
		}
		s, _ := status.FromError(err)
		if s.Code() != codes.Internal || s.Message() == "" || strings.Contains(s.Message(), "secret") {
			t.Fatalf("call %d: %v, want Internal without the panic value", i, err)
		}
	}
	timeout := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case e := <-events:
			done = e.Type == hotswap.EventRolledBack && e.PatchID == "bad"
			if done && (e.Probation == nil || e.Probation.Failures != 3 || e.Probation.Calls != 3) {
				t.Fatalf("evidence %+v", e.Probation)
			}
		case <-timeout:
			t.Fatal("no rollback")
		}
	}
	if _, err := f.client.Check(callCtx(t), &grpc_health_v1.HealthCheckRequest{}); err != nil {
		t.Fatalf("after the rollback: %v", err)
	}
}

// TestUnmappedMethodPassesThrough: a method no slot backs is not counted.
func TestUnmappedMethodPassesThrough(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	registry.MustRegister(reg, "health.Check", func(string) error { return nil })
	m, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p", Impls: map[string]any{"health.Check": func(string) error { return nil }}}); err != nil {
		t.Fatal(err)
	}
	icpt := hotgrpc.UnaryServerInterceptor(m, func(string) string { return "" })
	_, err = icpt(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x.Y/Z"}, func(context.Context, any) (any, error) {
		return nil, status.Error(codes.Internal, "not a slot's")
	})
	if status.Code(err) != codes.Internal {
		t.Fatalf("err = %v", err)
	}
	if p := m.Status().Stack[0].Probation; p.Calls != 0 || p.Failures != 0 {
		t.Fatalf("an unmapped method was counted: %+v", p)
	}
}
