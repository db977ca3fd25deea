package patch

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	. "strings"

	h "github.com/hotpatch-go/hotpatch/loader/native/testdata/host"
)

// reason is an unexported type of the patch in a signature.
type reason string

// Identity is the cheapest implementation: what BenchmarkNativeCall calls.
//
//hotpatch:slot example.Identity
func Identity(s string) string { return s }

// JoinAll panics in every way a wrapper must let through, on request: with a
// slice or a map (values that cannot be compared), with
// http.ErrAbortHandler, or leaves by runtime.Goexit.
//
//hotpatch:slot example.Join
func JoinAll(sep string, parts ...string) string {
	switch sep {
	case "slice":
		panic(parts)
	case "map":
		panic(map[string][]string{"parts": parts})
	case "abort":
		panic(http.ErrAbortHandler)
	case "goexit":
		runtime.Goexit()
	case "nil":
		panic(nil)
	}
	return "[" + joinTrim(parts, sep) + "]"
}

func joinTrim(parts []string, sep string) string { return TrimSpace(" " + JoinParts(parts, sep)) }

// JoinParts is strings.Join through the dot import.
func JoinParts(parts []string, sep string) string {
	var b Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.String()
}

// SplitLast has named results of several types.
//
//hotpatch:slot example.Split
func SplitLast(s string) (head string, rest []string, err error) {
	f := Fields(s)
	if len(f) == 0 {
		return "", nil, errors.New(string(reason("empty")))
	}
	return f[len(f)-1], f[:len(f)-1], nil
}

// Serve takes and returns types of the host's package, imported under
// another name.
//
//hotpatch:slot example.Serve
func Serve(ctx context.Context, r *h.Request) (h.Reply, error) {
	return h.Reply{Text: "patched, " + r.Name}, ctx.Err()
}

// Note has unnamed params and no result.
//
//hotpatch:slot example.Note
func Note(string, ...any) { h.Calls.Add(1) }
