package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/inventorypb"
)

// fake answers like the example server, with fixed values.
type fake struct {
	inventorypb.UnimplementedInventoryServer
}

func (fake) Quote(ctx context.Context, req *inventorypb.QuoteRequest) (*inventorypb.QuoteReply, error) {
	grpc.SetHeader(ctx, metadata.Pairs("x-version", "v9"))
	return &inventorypb.QuoteReply{Sku: req.Sku, Qty: req.Qty, UnitCents: 890, TotalCents: 890 * int64(req.Qty), Note: "list price"}, nil
}

func (fake) Audit(req *inventorypb.AuditRequest, s grpc.ServerStreamingServer[inventorypb.Finding]) error {
	for i := range max(req.Rounds, 1) {
		if err := s.Send(&inventorypb.Finding{Sku: "SAW-JIG", Level: "low", Note: req.Category, Seq: i}); err != nil {
			return err
		}
	}
	return nil
}

func TestClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	inventorypb.RegisterInventoryServer(gs, fake{})
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(ln)
	defer gs.Stop()
	addr := ln.Addr().String()

	for _, c := range []struct {
		args           []string
		stdout, stderr string
	}{
		{[]string{"quote", "TAPE-DUCT", "10"}, "TAPE-DUCT x 10: $89.00 (unit $8.90, discount $0.00) — list price\n", "(answered by version v9)\n"},
		{[]string{"audit", "tools", "2"}, "  0 SAW-JIG      low  tools\n  1 SAW-JIG      low  tools\n", ""},
		{[]string{"health"}, "SERVING\n", ""},
		{[]string{"search"}, "", "Unimplemented"},
		{[]string{"quote", "X", "many"}, "", `quote: QTY "many" is not a number`},
		{[]string{"frobnicate"}, "", `unknown command or wrong arguments: ["frobnicate"]`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(append([]string{"-addr", addr}, c.args...), &stdout, &stderr)
		if err != nil {
			stderr.WriteString(err.Error())
		}
		if stdout.String() != c.stdout || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%q: stdout %q, stderr %q; want %q and %q in stderr", c.args, stdout.String(), stderr.String(), c.stdout, c.stderr)
		}
	}
}
