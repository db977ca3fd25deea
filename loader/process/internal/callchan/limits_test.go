package callchan

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"
)

type chainNode struct {
	V    int
	Next *chainNode
}

type tree []tree

type treeMap map[string]treeMap

// TestCodecNestedDecode: a message nesting slices or maps 1e6 levels deep
// (a byte each) fails to decode instead of overflowing the stack; the
// limit used to count pointers only.
func TestCodecNestedDecode(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[tree](), reflect.TypeFor[treeMap](), reflect.TypeFor[chainNode]()} {
		c, err := NewCodecBuilder().build(typ, "v")
		if err != nil {
			t.Fatal(err)
		}
		var msg []byte
		for range 1_000_000 {
			switch typ.Kind() {
			case reflect.Slice:
				msg = append(msg, 2) // one element
			case reflect.Map:
				msg = append(msg, 2, 0) // one entry, key ""
			default:
				msg = append(msg, 0, 1) // V 0, Next present
			}
		}
		msg = append(msg, 0, 0)
		d := newDecoder(msg)
		c.dec(&d, reflect.New(typ).Elem())
		if !errors.Is(d.err, ErrTooLarge) {
			t.Errorf("%v: err = %v, want ErrTooLarge", typ, d.err)
		}
	}
}

// TestCodecAllocBound: a message of nil inner slices cannot make the
// decoder allocate 24 times its size.
func TestCodecAllocBound(t *testing.T) {
	c, err := NewCodecBuilder().build(reflect.TypeFor[[][]int](), "v")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4 << 20
	msg := binary.AppendUvarint(nil, n+1)
	msg = append(msg, make([]byte, n)...) // n nil slices
	d := newDecoder(msg)
	var out [][]int
	c.dec(&d, reflect.ValueOf(&out).Elem())
	if !errors.Is(d.err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", d.err)
	}
	// Ordinary data with a high ratio still decodes: small ints, 8 bytes each.
	ints := make([]int64, 1<<20)
	for i := range ints {
		ints[i] = int64(i % 60)
	}
	if got := roundTrip(t, ints).([]int64); len(got) != len(ints) {
		t.Fatal("ints lost")
	}
}

// TestWireDeadlinePast: a deadline before 1970 travels as one long past,
// not as none.
func TestWireDeadlinePast(t *testing.T) {
	if wireDeadline(time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)) != 1 {
		t.Error("a deadline before 1970 does not travel as past")
	}
}
