package hotgrpc

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// UnaryServerInterceptor returns an interceptor that counts each call of
// a slot-backed unary method for the probation of m's patches. slot maps a
// full method name ("/pkg.Service/Method") to the slot that backs it, or to
// "" for a method no slot backs; it is called on every call, so keep it
// cheap (a map lookup). It panics if m or slot is nil: a mistake of the
// program, better found when the server is built than on its first call.
func UnaryServerInterceptor(m *hotswap.Manager, slot func(fullMethod string) string) grpc.UnaryServerInterceptor {
	mustHave(m, slot, "UnaryServerInterceptor")
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		name := slot(info.FullMethod)
		if name == "" {
			return handler(ctx, req)
		}
		c := m.Begin(ctx, name)
		if c.Nested() {
			return handler(ctx, req) // installed twice: the outer one counts and recovers
		}
		ctx = c.Within(ctx) // feeders of the slot inside count nothing
		defer func() {
			if v := recover(); v != nil {
				resp, err = nil, recovered(m, c, name, info.FullMethod, v)
				return
			}
			c.End(fault(ctx, err))
		}()
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns an interceptor that counts each call of
// a slot-backed stream method for the probation of m's patches, as
// [UnaryServerInterceptor] does for unary ones: one call per stream, with
// the outcome of its handler. It panics if m or slot is nil.
func StreamServerInterceptor(m *hotswap.Manager, slot func(fullMethod string) string) grpc.StreamServerInterceptor {
	mustHave(m, slot, "StreamServerInterceptor")
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		name := slot(info.FullMethod)
		if name == "" {
			return handler(srv, ss)
		}
		ctx := ss.Context()
		c := m.Begin(ctx, name)
		if c.Nested() {
			return handler(srv, ss) // installed twice: the outer one counts and recovers
		}
		if inner := c.Within(ctx); inner != ctx {
			ss = &markedStream{ServerStream: ss, ctx: inner} // feeders of the slot inside count nothing
		}
		defer func() {
			if v := recover(); v != nil {
				err = recovered(m, c, name, info.FullMethod, v)
				return
			}
			c.End(fault(ctx, err))
		}()
		return handler(srv, ss)
	}
}

// mustHave panics if the arguments of an interceptor are missing.
// markedStream is a stream whose context is marked with the call.
type markedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *markedStream) Context() context.Context { return s.ctx }

func mustHave(m *hotswap.Manager, slot func(string) string, fn string) {
	if m == nil {
		panic("hotgrpc: " + fn + ": nil manager")
	}
	if slot == nil {
		panic("hotgrpc: " + fn + ": nil slot function (map each method to its slot, or to \"\")")
	}
}

// recovered counts and logs a panic of a handler and returns what the
// client gets: codes.Internal, without the panic value.
func recovered(m *hotswap.Manager, c hotswap.Call, slot, method string, v any) error {
	err := c.Panic(v)
	m.Logger().Error("hotgrpc: handler panicked", "method", method, "slot", slot, "patch", c.PatchID(), "err", err)
	return status.Errorf(codes.Internal, "internal error in %s", method)
}

// fault returns err, the outcome of a call whose context is ctx, if it
// says the server is at fault (see the package documentation), else nil.
// Once ctx ended (the client cancelled, or its deadline passed), no error
// is: the handler's error is then most often the cancellation seen through
// a backend call or a broken send, whatever code it carries.
func fault(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	switch status.Code(err) {
	case codes.Unknown, codes.Internal, codes.Unavailable, codes.DataLoss:
		return err
	}
	return nil
}
