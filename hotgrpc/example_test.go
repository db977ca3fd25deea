package hotgrpc_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/hotpatch-go/hotpatch/hotgrpc"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// Wire the interceptors into a server, with the slot behind each method;
// a handler that panics answers Internal and counts against its patch.
func Example() {
	reg := registry.New()
	price := registry.MustRegister(reg, "billing.Price", func(cents int) int { return cents })
	mgr, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 5}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Close(context.Background())

	slots := map[string]string{"/shop.Billing/Price": "billing.Price"}
	slotOf := func(method string) string { return slots[method] }
	unary := hotgrpc.UnaryServerInterceptor(mgr, slotOf)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(unary),
		grpc.ChainStreamInterceptor(hotgrpc.StreamServerInterceptor(mgr, slotOf)),
	)
	defer srv.Stop()

	if _, err := mgr.Apply(context.Background(), hotswap.Patch{ID: "price-v2", Impls: map[string]any{
		"billing.Price": func(int) int { panic("division by zero") },
	}}); err != nil {
		fmt.Println(err)
		return
	}
	// What the server runs for a call of /shop.Billing/Price:
	_, err = unary(context.Background(), 100, &grpc.UnaryServerInfo{FullMethod: "/shop.Billing/Price"},
		func(_ context.Context, req any) (any, error) { return price.Load()(req.(int)), nil })
	fmt.Println(status.Code(err))
	p := mgr.Status().Stack[0].Probation
	fmt.Println(p.State, p.Calls, "call,", p.Failures, "failure")
	// Output:
	// Internal
	// on-probation 1 call, 1 failure
}
