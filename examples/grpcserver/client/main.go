// Command client calls the example's Inventory service, for the tour:
//
//	client [-addr 127.0.0.1:50051] quote SKU [QTY]
//	client [-addr 127.0.0.1:50051] search [QUERY]
//	client [-addr 127.0.0.1:50051] audit [CATEGORY [ROUNDS]]
//	client [-addr 127.0.0.1:50051] health
//
// It prints each answer as one line of text, and which build answered
// (the x-version header) on standard error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/inventorypb"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "client:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: client [-addr host:port] COMMAND [ARGS]

commands:
  quote SKU [QTY]             the price of QTY units (default 1)
  search [QUERY]              the items that match QUERY (all without one)
  audit [CATEGORY [ROUNDS]]   stream a finding per item
  health                      the server's health status
`

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	addr := fs.String("addr", "127.0.0.1:50051", "the server's `host:port`")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	inv := inventorypb.NewInventoryClient(conn)
	var hdr metadata.MD
	defer func() {
		if v := hdr.Get("x-version"); len(v) > 0 {
			fmt.Fprintln(stderr, "(answered by version", v[0]+")")
		}
	}()

	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch {
	case cmd == "quote" && (len(rest) == 1 || len(rest) == 2):
		qty := 1
		if len(rest) == 2 {
			if qty, err = strconv.Atoi(rest[1]); err != nil {
				return fmt.Errorf("quote: QTY %q is not a number", rest[1])
			}
		}
		q, err := inv.Quote(ctx, &inventorypb.QuoteRequest{Sku: rest[0], Qty: int32(qty)}, grpc.Header(&hdr))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s x %d: %s (unit %s, discount %s) — %s\n", q.Sku, q.Qty,
			money(q.TotalCents), money(q.UnitCents), money(q.DiscountCents), q.Note)
	case cmd == "search" && len(rest) <= 1:
		query := ""
		if len(rest) == 1 {
			query = rest[0]
		}
		r, err := inv.Search(ctx, &inventorypb.SearchRequest{Query: query}, grpc.Header(&hdr))
		if err != nil {
			return err
		}
		for _, it := range r.Items {
			fmt.Fprintf(stdout, "%-12s %-36s %-10s %6d on hand %5d reserved %9s\n", it.Sku, it.Name, it.Category, it.OnHand, it.Reserved, money(it.UnitCents))
		}
	case cmd == "audit" && len(rest) <= 2:
		req := &inventorypb.AuditRequest{}
		if len(rest) >= 1 {
			req.Category = rest[0]
		}
		if len(rest) == 2 {
			n, err := strconv.Atoi(rest[1])
			if err != nil {
				return fmt.Errorf("audit: ROUNDS %q is not a number", rest[1])
			}
			req.Rounds = int32(n)
		}
		stream, err := inv.Audit(ctx, req, grpc.Header(&hdr))
		if err != nil {
			return err
		}
		for {
			f, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%3d %-12s %-4s %s\n", f.Seq, f.Sku, f.Level, f.Note)
		}
	case cmd == "health" && len(rest) == 0:
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, r.Status)
	default:
		fs.Usage()
		return fmt.Errorf("unknown command or wrong arguments: %q", fs.Args())
	}
	return nil
}

// money prints cents as dollars.
func money(c int64) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }
