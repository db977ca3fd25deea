package callchan

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
)

type node struct {
	Val  int
	Next *node
	Kids []node
}

type withTag struct {
	A int `json:"a"`
}

type withOtherTag struct {
	A int `json:"b"`
}

type hidden struct {
	Shown  int
	hidden int
}

type padded struct {
	A int
	_ [4]byte
	B string
}

type Greeting func(string) string

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	typ := reflect.TypeOf(v)
	c, err := NewCodecBuilder().build(typ, "v")
	if err != nil {
		t.Fatalf("%T: %v", v, err)
	}
	var e encoder
	c.enc(&e, reflect.ValueOf(v))
	if e.err != nil {
		t.Fatalf("%T: encode: %v", v, e.err)
	}
	out := reflect.New(typ).Elem()
	d := newDecoder(e.b)
	c.dec(&d, out)
	if d.err != nil || len(d.b) != 0 {
		t.Fatalf("%T: decode: %v (%d bytes left)", v, d.err, len(d.b))
	}
	return out.Interface()
}

func TestCodecRoundTrip(t *testing.T) {
	s := "s"
	values := []any{
		true, false, 0, -1, math.MaxInt64, math.MinInt64, int8(-128), uint8(255), uint64(math.MaxUint64), uintptr(7),
		float32(1.5), math.Inf(-1), math.SmallestNonzeroFloat64, complex(1, -2), complex64(3i),
		"", "héllo\x00", []byte(nil), []byte{}, []byte("abc"),
		[]int(nil), []int{}, []int{1, -2, 3}, [2]string{"a", "b"}, [0]int{},
		map[string]int(nil), map[string]int{}, map[int][]string{1: {"x"}, 2: nil},
		&s, (*string)(nil), []*int{nil},
		time.Date(2020, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), time.Time{},
		fixture.Point{X: 1, Y: -1}, fixture.Celsius(-3.5),
		node{Val: 1, Next: &node{Val: 2}, Kids: []node{{Val: 3}}},
		padded{A: 1, B: "b"},
		[]struct{}{{}, {}}, map[string]struct{}{"k": {}},
	}
	for _, v := range values {
		got := roundTrip(t, v)
		if tm, ok := v.(time.Time); ok {
			if !tm.Equal(got.(time.Time)) {
				t.Errorf("time %v came back %v", tm, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%T %#v came back %#v", v, v, got)
		}
	}
}

func TestCodecRefuses(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		says string
	}{
		{reflect.TypeFor[func(chan int)](), "channel"},
		{reflect.TypeFor[func(func())](), "a func"},
		{reflect.TypeFor[func(unsafe.Pointer)](), "unsafe.Pointer"},
		{reflect.TypeFor[func(any)](), "interface"},
		{reflect.TypeFor[func() map[string]chan int](), "result 1 (map[string]chan int)[value]"},
		{reflect.TypeFor[func(hidden)](), "unexported"},
		{reflect.TypeFor[func(int, context.Context)](), "context.Context must be the first"},
		{reflect.TypeFor[func() (error, int)](), "error must be the last"},
		{reflect.TypeFor[func(struct{ F []error })](), ".F[]"},
		{reflect.TypeFor[func(http.ResponseWriter)](), "interface"},
	}
	for _, tt := range tests {
		_, err := Analyze(tt.typ, NewCodecBuilder())
		if !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%v: %v, want ErrUnsupportedType saying %q", tt.typ, err, tt.says)
		}
	}
	if _, err := Analyze(reflect.TypeFor[int](), NewCodecBuilder()); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("non-func: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	desc := func(t reflect.Type) string {
		s, err := Analyze(t, NewCodecBuilder())
		if err != nil {
			panic(err)
		}
		return s.desc
	}
	same := [][2]reflect.Type{
		{reflect.TypeFor[Greeting](), reflect.TypeFor[func(string) string]()},
		{reflect.TypeFor[http.HandlerFunc](), reflect.TypeFor[func(http.ResponseWriter, *http.Request)]()},
		{reflect.TypeFor[func(node) node](), reflect.TypeFor[func(node) node]()},
	}
	for _, p := range same {
		if desc(p[0]) != desc(p[1]) {
			t.Errorf("%v and %v differ: %q vs %q", p[0], p[1], desc(p[0]), desc(p[1]))
		}
	}
	differ := [][2]reflect.Type{
		{reflect.TypeFor[func(withTag)](), reflect.TypeFor[func(withOtherTag)]()},
		{reflect.TypeFor[func(fixture.Point)](), reflect.TypeFor[func(struct{ X, Y int })]()},
		{reflect.TypeFor[func(int)](), reflect.TypeFor[func(int64)]()},
		{reflect.TypeFor[func(string) string](), reflect.TypeFor[func(string) (string, error)]()},
		{reflect.TypeFor[func(context.Context)](), reflect.TypeFor[func()]()},
		{reflect.TypeFor[func(...int)](), reflect.TypeFor[func([]int)]()},
	}
	for _, p := range differ {
		if desc(p[0]) == desc(p[1]) {
			t.Errorf("%v and %v have the same description %q", p[0], p[1], desc(p[0]))
		}
	}
	if d := desc(reflect.TypeFor[func(fixture.Input)]()); !strings.Contains(d, "hotpatch/loader/process/internal/fixture.Input=struct{") ||
		!strings.Contains(d, "time.Time(binary)") {
		t.Errorf("description %q lacks package paths or the marshaler", d)
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder of a rich type: it may
// fail, but must not panic or allocate without bound.
func FuzzDecode(f *testing.F) {
	c, err := NewCodecBuilder().build(reflect.TypeFor[fixture.Input](), "in")
	if err != nil {
		f.Fatal(err)
	}
	var e encoder
	c.enc(&e, reflect.ValueOf(fixture.Input{Name: "n", Points: []fixture.Point{{X: 1}}, Tags: map[string]int{"a": 1}}))
	f.Add(e.b)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	nc, err := NewCodecBuilder().build(reflect.TypeFor[node](), "node")
	if err != nil {
		f.Fatal(err)
	}
	ec, err := NewCodecBuilder().build(reflect.TypeFor[[]struct{}](), "empty")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in fixture.Input
		d := newDecoder(b)
		c.dec(&d, reflect.ValueOf(&in).Elem())
		var n node
		d = newDecoder(b)
		nc.dec(&d, reflect.ValueOf(&n).Elem())
		var es []struct{}
		d = newDecoder(b)
		ec.dec(&d, reflect.ValueOf(&es).Elem())
		if len(es) > maxEmptyElems {
			t.Fatalf("%d empty elements", len(es))
		}
		// Frames: the reader must refuse bad lengths without panicking.
		fr := newFrameReader(bytes.NewReader(b))
		for {
			if _, _, _, _, err := fr.read(nil, nil, nil); err != nil {
				break
			}
		}
		d = newDecoder(b)
		_ = decodeError(&d)
		_ = decodePanic(b)
	})
}
