// Package hotgrpc feeds a gRPC server's outcomes to the probation of the
// patches that serve it ([hotswap.RollbackPolicy]): unary and stream
// server interceptors count each call of a slot-backed method against the
// version that served it, as a success or a server fault, and recover the
// panics of its handler.
//
// It is a package of its own so that the manager and the root package do
// not link gRPC: an application that serves gRPC imports it, next to its
// server.
//
// # What counts
//
// Each call of a method that the Slot function maps to a slot is one call
// of the patch serving that slot when the call began ([hotswap.Manager.Begin]).
// It fails when the handler:
//
//   - panics: the panic is recovered, logged with the manager's logger,
//     counted unless the patch's loader counted it already
//     ([hotswap.Call.Panic]), and answered with codes.Internal (the
//     panic value is not sent to the client);
//   - returns a status with one of the codes that say the server is at
//     fault: Unknown (also every error that is not a status), Internal,
//     Unavailable, DataLoss.
//
// Every other code is the client's or the environment's business and
// counts as a success: InvalidArgument, NotFound, AlreadyExists,
// PermissionDenied, Unauthenticated, FailedPrecondition, OutOfRange,
// Aborted, ResourceExhausted, Unimplemented, Canceled, and
// DeadlineExceeded. A deadline is the client's choice: counting it would
// roll good patches back when clients are impatient; a patch that hangs
// shows in latency, not here. Errors that match context.Canceled or
// context.DeadlineExceeded, whatever their code, errors a loader
// accounted for ([hotswap.Accounted]), and any error returned once the
// call's context ended (the client cancelled or went away, or its
// deadline passed: the error is then most often that seen through a
// backend call or a broken send) do not count either. A panic counts,
// whatever the context.
//
// A stream call is one call, with the outcome of its handler: a stream
// that fails half-way is one failure.
//
// The handler gets the call's context marked ([hotswap.Call.Within]):
// feeders of the same manager and slot inside it (the interceptors
// installed twice, by a shared set of server options and the service's
// own, or a [hotswap.Manager.Guard] given that context) count nothing, so
// a call and its failure count once, in the outermost interceptor, with
// the status it returns; the inner interceptors pass the call through,
// panics included. Feeders of two managers, or two slots, count
// each.
//
// Methods the Slot function maps to "" pass through untouched: their
// panics go on up as they would without the interceptor.
package hotgrpc
