package callchan

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
)

var (
	errorType          = reflect.TypeFor[error]()
	contextType        = reflect.TypeFor[context.Context]()
	responseWriterType = reflect.TypeFor[http.ResponseWriter]()
	requestPtrType     = reflect.TypeFor[*http.Request]()
)

// httpDesc is the description shared by every HTTP handler shape, so that a
// plugin's func(http.ResponseWriter, *http.Request) serves a slot of type
// http.HandlerFunc and the other way round.
const httpDesc = "http.Handler"

// Shape is what both ends need to know about a slot's func type to call
// it across the boundary.
type Shape struct {
	typ  reflect.Type
	desc string // canonical description compared at handshake

	ctx  bool // the first parameter is a context.Context
	err  bool // the last result is an error
	http bool // an HTTP handler: func(http.ResponseWriter, *http.Request)

	in   []reflect.Type // parameters that travel (without the context)
	out  []reflect.Type // results that travel (without the error)
	inC  []*typeCodec
	outC []*typeCodec
}

// Type returns the func type.
func (s *Shape) Type() reflect.Type { return s.typ }

// Desc returns the canonical description the handshake compares.
func (s *Shape) Desc() string { return s.desc }

// Context reports whether the first parameter is a context.Context.
func (s *Shape) Context() bool { return s.ctx }

// HTTP reports whether the func is an HTTP handler.
func (s *Shape) HTTP() bool { return s.http }

// Analyze checks that a func of type t can be called across a process
// boundary and compiles its codecs. The top-level func type's own name does
// not matter: a plugin's func(string) string serves a slot of a named func
// type with that signature.
func Analyze(t reflect.Type, b *CodecBuilder) (*Shape, error) {
	if t == nil || t.Kind() != reflect.Func {
		return nil, fmt.Errorf("%w: %v is not a func", ErrUnsupportedType, t)
	}
	s := &Shape{typ: t}
	if t.NumIn() == 2 && t.NumOut() == 0 && t.In(0) == responseWriterType && t.In(1) == requestPtrType {
		s.http = true
		s.desc = httpDesc
		return s, nil
	}
	d := describer{seen: make(map[reflect.Type]bool)}
	var sb strings.Builder
	d.literal(&sb, t)
	s.desc = sb.String()

	first := 0
	if t.NumIn() > 0 && t.In(0) == contextType {
		s.ctx = true
		first = 1
	}
	for i := first; i < t.NumIn(); i++ {
		in := t.In(i)
		path := fmt.Sprintf("parameter %d (%v)", i+1, in)
		if in == contextType {
			return nil, fmt.Errorf("%s: %w: a context.Context must be the first parameter", path, ErrUnsupportedType)
		}
		c, err := b.build(in, path)
		if err != nil {
			return nil, err
		}
		s.in = append(s.in, in)
		s.inC = append(s.inC, c)
	}
	last := t.NumOut()
	if last > 0 && t.Out(last-1) == errorType {
		s.err = true
		last--
	}
	for i := range last {
		out := t.Out(i)
		path := fmt.Sprintf("result %d (%v)", i+1, out)
		if out == errorType {
			return nil, fmt.Errorf("%s: %w: an error must be the last result", path, ErrUnsupportedType)
		}
		c, err := b.build(out, path)
		if err != nil {
			return nil, err
		}
		s.out = append(s.out, out)
		s.outC = append(s.outC, c)
	}
	return s, nil
}
