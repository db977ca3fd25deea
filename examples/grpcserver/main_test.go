package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/inventorypb"
)

// syncBuffer is a log that tests read while the server writes it.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds, or fails the test after a generous
// hang-detecting timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inproc is a server run in the test's process, with a plain listener.
type inproc struct {
	dir  string
	logs *syncBuffer
	conn *grpc.ClientConn
	inv  inventorypb.InventoryClient
}

func startInProcess(t *testing.T, flags ...string) *inproc {
	t.Helper()
	s := &inproc{dir: filepath.Join(t.TempDir(), "patches"), logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	args := append([]string{"-addr", "127.0.0.1:0", "-patches", s.dir, "-debounce", "20ms"}, flags...)
	go func() { done <- serve(ctx, args, io.Discard, s.logs, func(a string) { addrc <- a }, false) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("the server did not start: %v\n%s", err, s.logs)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s.conn, s.inv = conn, inventorypb.NewInventoryClient(conn)
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	return s
}

// drop writes a patch file under a temporary name and renames it in.
func drop(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *inproc) quote(t *testing.T, sku string, qty int32) *inventorypb.QuoteReply {
	t.Helper()
	q, err := s.inv.Quote(context.Background(), &inventorypb.QuoteRequest{Sku: sku, Qty: qty})
	if err != nil {
		t.Fatalf("Quote(%s, %d): %v", sku, qty, err)
	}
	return q
}

func (s *inproc) audit(t *testing.T, category string, rounds int32) []*inventorypb.Finding {
	t.Helper()
	stream, err := s.inv.Audit(context.Background(), &inventorypb.AuditRequest{Category: category, Rounds: rounds})
	if err != nil {
		t.Fatal(err)
	}
	var out []*inventorypb.Finding
	for {
		f, err := stream.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Audit(%q, %d): %v", category, rounds, err)
		}
		out = append(out, f)
	}
}

func TestService(t *testing.T) {
	s := startInProcess(t)
	ctx := context.Background()

	var hdr metadata.MD
	q, err := s.inv.Quote(ctx, &inventorypb.QuoteRequest{Sku: "BLT-M6-20", Qty: 150}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if q.TotalCents != 1283 || q.DiscountCents != 67 || q.Note != "5% off from 100 units" {
		t.Errorf("Quote = %v", q)
	}
	if got := hdr.Get(versionKey); len(got) != 1 || got[0] != version {
		t.Errorf("x-version header = %q, want %q", got, version)
	}

	r, err := s.inv.Search(ctx, &inventorypb.SearchRequest{Query: "hex bolt"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 2 || r.Items[0].Sku != "BLT-M6-20" || r.Items[1].Sku != "BLT-M8-30" {
		t.Errorf("Search(hex bolt) = %v", r.Items)
	}

	fs := s.audit(t, "tools", 2)
	if len(fs) != 6 {
		t.Fatalf("Audit(tools, 2): %d findings, want 6", len(fs))
	}
	for i, f := range fs {
		if f.Seq != int32(i) {
			t.Errorf("finding %d has seq %d", i, f.Seq)
		}
	}
	if fs[1].Sku != "SAW-JIG" || fs[1].Level != "low" || fs[4].Sku != "SAW-JIG" {
		t.Errorf("Audit(tools, 2) = %v", fs)
	}
	if got := len(s.audit(t, "", 0)); got != 12 {
		t.Errorf("Audit of everything once: %d findings, want 12", got)
	}

	// Bad requests: a clear status, nothing counted against a patch.
	for _, c := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"unknown SKU", func() error {
			_, err := s.inv.Quote(ctx, &inventorypb.QuoteRequest{Sku: "NOPE", Qty: 1})
			return err
		}, codes.NotFound, `no item with SKU "NOPE"`},
		{"qty 0", func() error {
			_, err := s.inv.Quote(ctx, &inventorypb.QuoteRequest{Sku: "NUT-M6"})
			return err
		}, codes.InvalidArgument, "qty 0: want 1 to 10000"},
		{"qty too large", func() error {
			_, err := s.inv.Quote(ctx, &inventorypb.QuoteRequest{Sku: "NUT-M6", Qty: 10001})
			return err
		}, codes.InvalidArgument, "qty 10001"},
		{"unknown category", func() error { return streamErr(s.inv, &inventorypb.AuditRequest{Category: "toys"}) }, codes.NotFound, `no category "toys"`},
		{"negative rounds", func() error { return streamErr(s.inv, &inventorypb.AuditRequest{Rounds: -1}) }, codes.InvalidArgument, "rounds -1: want 0 to 1000"},
		{"too many rounds", func() error { return streamErr(s.inv, &inventorypb.AuditRequest{Rounds: 1001}) }, codes.InvalidArgument, "rounds 1001"},
	} {
		err := c.call()
		if st, _ := status.FromError(err); status.Code(err) != c.code || !strings.Contains(st.Message(), c.msg) {
			t.Errorf("%s: %v, want %v containing %q", c.name, err, c.code, c.msg)
		}
	}

	// The stock tools' services.
	h, err := healthpb.NewHealthClient(s.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: inventorypb.Inventory_ServiceDesc.ServiceName})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check: %v, %v", h, err)
	}
	rs, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.Name)
	}
	want := []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "inventory.v1.Inventory"}
	for _, w := range want {
		if !strings.Contains(strings.Join(names, " "), w) {
			t.Errorf("reflection lists %q, want %q among them", names, w)
		}
	}
	rs.CloseSend()
}

// streamErr runs an Audit stream to its end and returns its error.
func streamErr(inv inventorypb.InventoryClient, req *inventorypb.AuditRequest) error {
	stream, err := inv.Audit(context.Background(), req)
	if err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// TestScriptSamples copies the README's scripts in and takes them out.
func TestScriptSamples(t *testing.T) {
	s := startInProcess(t)
	for _, name := range []string{"price_clearance.go", "audit_cover.go"} {
		src, err := os.ReadFile(filepath.Join("patches.sample", name))
		if err != nil {
			t.Fatal(err)
		}
		drop(t, s.dir, name, src)
	}
	waitFor(t, "the clearance price", func() bool {
		return strings.Contains(s.quote(t, "TAPE-DUCT", 10).Note, "supplies clearance")
	})
	if q := s.quote(t, "TAPE-DUCT", 10); q.TotalCents != 6675 || q.DiscountCents != 2225 {
		t.Errorf("clearance quote = %v", q)
	}
	if q := s.quote(t, "NUT-M6", 10); q.Note != "list price" {
		t.Errorf("a quote outside the clearance = %v", q)
	}
	waitFor(t, "a tight finding", func() bool { return s.audit(t, "tools", 1)[0].Level == "tight" })
	var tight []string
	for _, f := range s.audit(t, "", 1) {
		if f.Level == "tight" {
			tight = append(tight, f.Sku+": "+f.Note)
		}
	}
	if got, want := strings.Join(tight, "; "), "DRL-18V: 25 of 42 on hand reserved; TAPE-DUCT: 150 of 260 on hand reserved"; got != want {
		t.Errorf("tight items: %s, want %s", got, want)
	}
	if err := os.Remove(filepath.Join(s.dir, "price_clearance.go")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the list price back", func() bool { return s.quote(t, "TAPE-DUCT", 10).Note == "list price" })
}

// TestBadPatches: a script that does not fit its slot is refused and the
// baseline keeps serving; one that panics is answered with Internal,
// counted by the interceptor, and rolled back after three failures.
func TestBadPatches(t *testing.T) {
	s := startInProcess(t)
	drop(t, s.dir, "wrong.go", []byte(`package patch

import "github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"

//hotpatch:slot inventory.Price
func Price(it stock.Item) stock.Quote { return stock.Quote{} }
`))
	waitFor(t, "the refusal", func() bool { return strings.Contains(s.logs.String(), "wrong.go:5:1") })
	if !strings.Contains(s.logs.String(), "slot inventory.Price: implementation has type func(stock.Item) stock.Quote, slot has type func(stock.Item, int) stock.Quote") {
		t.Errorf("the refusal does not say why:\n%s", s.logs)
	}
	if q := s.quote(t, "NUT-M6", 1); q.Note != "list price" {
		t.Errorf("after the refusal: %v", q)
	}

	drop(t, s.dir, "panics.go", []byte(`package patch

import "github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"

//hotpatch:slot inventory.Audit
func Audit(items []stock.Item) []stock.Finding {
	return []stock.Finding{stock.Assess(items[len(items)])}
}
`))
	waitFor(t, "the panicking patch", func() bool { return strings.Contains(s.logs.String(), "msg=\"hotswap: applied\"") })
	var codesSeen []codes.Code
	waitFor(t, "the rollback", func() bool {
		err := streamErr(s.inv, &inventorypb.AuditRequest{})
		if err == nil {
			return strings.Contains(s.logs.String(), "event=rolled-back")
		}
		codesSeen = append(codesSeen, status.Code(err))
		return false
	})
	if len(codesSeen) == 0 || len(codesSeen) > 3 {
		t.Errorf("the panicking patch answered %v before its rollback, want 1 to 3 Internal", codesSeen)
	}
	for _, c := range codesSeen {
		if c != codes.Internal {
			t.Errorf("a panic answered %v, want Internal", c)
		}
	}
	if got := len(s.audit(t, "", 1)); got != 12 {
		t.Errorf("after the rollback: %d findings", got)
	}

	// A patch that returns too few findings fails its calls with Internal.
	drop(t, s.dir, "panics.go", []byte(`package patch

import "github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"

//hotpatch:slot inventory.Audit
func Audit(items []stock.Item) []stock.Finding { return nil }
`))
	waitFor(t, "the short patch", func() bool {
		err := streamErr(s.inv, &inventorypb.AuditRequest{})
		return status.Code(err) == codes.Internal && strings.Contains(err.Error(), "returned 0 findings for 12 items")
	})
}
