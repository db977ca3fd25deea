package main

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/examples/grpcserver/inventorypb"
	"github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"
	"github.com/hotpatch-go/hotpatch/registry"
)

// server is the Inventory service. The logic behind each method is a
// slot, so a patch can change it while the server runs.
type server struct {
	inventorypb.UnimplementedInventoryServer

	items []stock.Item          // never changed after newServer
	bySKU map[string]stock.Item // never changed after newServer
	cats  map[string]bool       // the categories; never changed after newServer
	price *registry.Func[func(it stock.Item, qty int) stock.Quote]
	find  *registry.Func[func(items []stock.Item, query string) []stock.Item]
	audit *registry.Func[func(items []stock.Item) []stock.Finding]
}

// The slots of the server, with the types their patches must have.
const (
	slotPrice  = "inventory.Price"  // func(it stock.Item, qty int) stock.Quote
	slotSearch = "inventory.Search" // func(items []stock.Item, query string) []stock.Item
	slotAudit  = "inventory.Audit"  // func(items []stock.Item) []stock.Finding
)

// methodSlots maps each method to the slot behind it, for the
// interceptors of package hotgrpc: a call of a method counts for the
// probation of the patch that served its slot when the call began.
// Methods not here (health, reflection) are not counted.
var methodSlots = map[string]string{
	inventorypb.Inventory_Quote_FullMethodName:  slotPrice,
	inventorypb.Inventory_Search_FullMethodName: slotSearch,
	inventorypb.Inventory_Audit_FullMethodName:  slotAudit,
}

func slotOf(fullMethod string) string { return methodSlots[fullMethod] }

// newServer registers the server's slots in hp, with the stock package's
// baseline logic.
func newServer(hp *hotpatch.Runtime) *server {
	s := &server{items: stock.Items(), bySKU: make(map[string]stock.Item), cats: make(map[string]bool)}
	for _, it := range s.items {
		s.bySKU[it.SKU] = it
		s.cats[it.Category] = true
	}
	s.price = hotpatch.MustRegister(hp, slotPrice, stock.Price)
	s.find = hotpatch.MustRegister(hp, slotSearch, stock.Search)
	s.audit = hotpatch.MustRegister(hp, slotAudit, stock.Audit)
	return s
}

// maxQty and maxRounds bound what a client may ask for.
const (
	maxQty    = 10_000
	maxRounds = 1000
)

// Quote prices an order through the slot inventory.Price.
func (s *server) Quote(_ context.Context, req *inventorypb.QuoteRequest) (*inventorypb.QuoteReply, error) {
	it, ok := s.bySKU[req.GetSku()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no item with SKU %q", req.GetSku())
	}
	if q := req.GetQty(); q < 1 || q > maxQty {
		return nil, status.Errorf(codes.InvalidArgument, "qty %d: want 1 to %d", q, maxQty)
	}
	q := s.price.Load()(it, int(req.GetQty()))
	return &inventorypb.QuoteReply{Sku: q.SKU, Qty: int32(q.Qty), UnitCents: int64(q.Unit),
		DiscountCents: int64(q.Discount), TotalCents: int64(q.Total), Note: q.Note}, nil
}

// Search lists the matching items through the slot inventory.Search.
func (s *server) Search(_ context.Context, req *inventorypb.SearchRequest) (*inventorypb.SearchReply, error) {
	// Patches get a copy: a bug in one must not corrupt the items that
	// every call shares.
	found := s.find.Load()(slices.Clone(s.items), req.GetQuery())
	out := &inventorypb.SearchReply{Items: make([]*inventorypb.Item, len(found))}
	for i, it := range found {
		out.Items[i] = itemMessage(it)
	}
	return out, nil
}

// Audit streams one finding per item of a category, through the slot
// inventory.Audit, which it calls once per stream, at its start: the
// findings are a snapshot, and a stream runs from its first finding to its
// last on the version that served when it began, whatever is applied or
// reverted meanwhile. (One call, not one per item: a func loaded from a
// process patch that was retired since runs the slot's current version,
// so a stream that called per item could change versions half-way.)
func (s *server) Audit(req *inventorypb.AuditRequest, stream grpc.ServerStreamingServer[inventorypb.Finding]) error {
	cat := req.GetCategory()
	if cat != "" && !s.cats[cat] {
		return status.Errorf(codes.NotFound, "no category %q", cat)
	}
	rounds := int(req.GetRounds())
	if rounds < 0 || rounds > maxRounds {
		return status.Errorf(codes.InvalidArgument, "rounds %d: want 0 to %d", rounds, maxRounds)
	}
	rounds = max(rounds, 1)
	var items []stock.Item // a copy: see Search
	for _, it := range s.items {
		if cat == "" || it.Category == cat {
			items = append(items, it)
		}
	}
	findings := s.audit.Load()(items)
	if len(findings) != len(items) {
		// A patch's bug: counted against it by the interceptor.
		return status.Errorf(codes.Internal, "slot %s returned %d findings for %d items", slotAudit, len(findings), len(items))
	}
	seq := int32(0)
	for range rounds {
		for _, f := range findings {
			if err := stream.Send(&inventorypb.Finding{Sku: f.SKU, Level: f.Level, Note: f.Note, Seq: seq}); err != nil {
				return err // the client went away: not the patch's fault (hotgrpc does not count it)
			}
			seq++
		}
	}
	return nil
}

func itemMessage(it stock.Item) *inventorypb.Item {
	return &inventorypb.Item{Sku: it.SKU, Name: it.Name, Category: it.Category, OnHand: int32(it.OnHand),
		Reserved: int32(it.Reserved), ReorderAt: int32(it.ReorderAt), UnitCents: int64(it.Unit)}
}

// versionKey is the response header that names the build that answered,
// so that a client can tell baselines apart.
const versionKey = "x-version"

// versionUnary and versionStream set the x-version header of every call.
func versionUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs(versionKey, version)); err != nil {
		return nil, fmt.Errorf("setting the version header: %w", err)
	}
	return handler(ctx, req)
}

func versionStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := ss.SetHeader(metadata.Pairs(versionKey, version)); err != nil {
		return fmt.Errorf("setting the version header: %w", err)
	}
	return handler(srv, ss)
}
