package callchan

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
)

// typeCodec encodes and decodes the values of one type.
type typeCodec struct {
	enc func(e *encoder, v reflect.Value)
	dec func(d *decoder, v reflect.Value) // v is settable
}

var (
	binaryMarshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// CodecBuilder compiles codecs; it is used by one goroutine at a time and
// lets recursive types refer to themselves.
type CodecBuilder struct {
	done map[reflect.Type]*typeCodec
}

// NewCodecBuilder returns a builder with no codec compiled yet.
func NewCodecBuilder() *CodecBuilder {
	return &CodecBuilder{done: make(map[reflect.Type]*typeCodec)}
}

// build returns the codec of t, or an error naming the part of t (by path)
// that cannot cross a process boundary.
func (b *CodecBuilder) build(t reflect.Type, path string) (*typeCodec, error) {
	if c, ok := b.done[t]; ok {
		return c, nil
	}
	c := &typeCodec{}
	b.done[t] = c // placeholder for recursive types
	if err := b.fill(c, t, path); err != nil {
		delete(b.done, t)
		return nil, err
	}
	return c, nil
}

func (b *CodecBuilder) fill(c *typeCodec, t reflect.Type, path string) error {
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		t.Implements(binaryMarshalerType) && reflect.PointerTo(t).Implements(binaryUnmarshalerType) {
		c.enc = func(e *encoder, v reflect.Value) {
			data, err := v.Interface().(encoding.BinaryMarshaler).MarshalBinary()
			if err != nil {
				e.fail(fmt.Errorf("marshal %v: %w", t, err))
				return
			}
			e.bytes(data)
		}
		c.dec = func(d *decoder, v reflect.Value) {
			data := d.bytes()
			if !d.charge(len(data) + int(t.Size())) {
				return
			}
			p := reflect.New(t)
			if err := p.Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(data); err != nil {
				d.fail(fmt.Errorf("unmarshal %v: %w", t, err))
				return
			}
			v.Set(p.Elem())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		c.enc = func(e *encoder, v reflect.Value) { e.bool(v.Bool()) }
		c.dec = func(d *decoder, v reflect.Value) { v.SetBool(d.bool()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.enc = func(e *encoder, v reflect.Value) { e.varint(v.Int()) }
		c.dec = func(d *decoder, v reflect.Value) {
			x := d.varint()
			if v.OverflowInt(x) {
				d.fail(fmt.Errorf("value %d overflows %v", x, t))
				return
			}
			v.SetInt(x)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c.enc = func(e *encoder, v reflect.Value) { e.uvarint(v.Uint()) }
		c.dec = func(d *decoder, v reflect.Value) {
			x := d.uvarint()
			if v.OverflowUint(x) {
				d.fail(fmt.Errorf("value %d overflows %v", x, t))
				return
			}
			v.SetUint(x)
		}
	case reflect.Float32, reflect.Float64:
		c.enc = func(e *encoder, v reflect.Value) { e.float(v.Float()) }
		c.dec = func(d *decoder, v reflect.Value) { v.SetFloat(d.float()) }
	case reflect.Complex64, reflect.Complex128:
		c.enc = func(e *encoder, v reflect.Value) {
			x := v.Complex()
			e.float(real(x))
			e.float(imag(x))
		}
		c.dec = func(d *decoder, v reflect.Value) {
			re := d.float()
			v.SetComplex(complex(re, d.float()))
		}
	case reflect.String:
		c.enc = func(e *encoder, v reflect.Value) { e.string(v.String()) }
		c.dec = func(d *decoder, v reflect.Value) {
			s := d.bytes()
			if d.charge(len(s)) {
				v.SetString(string(s))
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && t.Elem().PkgPath() == "" {
			c.enc = func(e *encoder, v reflect.Value) {
				if v.IsNil() {
					e.uvarint(0)
					return
				}
				b := v.Bytes()
				e.uvarint(uint64(len(b)) + 1)
				e.b = append(e.b, b...)
			}
			c.dec = func(d *decoder, v reflect.Value) {
				n, ok := d.length(1)
				if !ok || !d.charge(n) {
					v.SetZero()
					return
				}
				b := make([]byte, n)
				copy(b, d.take(n))
				v.SetBytes(b)
			}
			return nil
		}
		ec, err := b.build(t.Elem(), path+"[]")
		if err != nil {
			return err
		}
		minSize := wireMinSize(t.Elem())
		elemSize := int(t.Elem().Size())
		c.enc = func(e *encoder, v reflect.Value) {
			if v.IsNil() {
				e.uvarint(0)
				return
			}
			if !e.enter(v) {
				return
			}
			n := v.Len()
			e.uvarint(uint64(n) + 1)
			for i := 0; i < n && e.err == nil; i++ {
				ec.enc(e, v.Index(i))
			}
			e.leave(v)
		}
		c.dec = func(d *decoder, v reflect.Value) {
			n, ok := d.length(minSize)
			if !ok || !d.enter() || !d.charge(n*elemSize) {
				v.SetZero()
				return
			}
			s := reflect.MakeSlice(t, n, n)
			for i := 0; i < n && d.err == nil; i++ {
				ec.dec(d, s.Index(i))
			}
			d.depth--
			v.Set(s)
		}
	case reflect.Array:
		ec, err := b.build(t.Elem(), fmt.Sprintf("%s[%d]", path, t.Len()))
		if err != nil {
			return err
		}
		n := t.Len()
		c.enc = func(e *encoder, v reflect.Value) {
			for i := range n {
				ec.enc(e, v.Index(i))
			}
		}
		c.dec = func(d *decoder, v reflect.Value) {
			for i := 0; i < n && d.err == nil; i++ {
				ec.dec(d, v.Index(i))
			}
		}
	case reflect.Map:
		kc, err := b.build(t.Key(), path+"[key]")
		if err != nil {
			return err
		}
		vc, err := b.build(t.Elem(), path+"[value]")
		if err != nil {
			return err
		}
		minSize := wireMinSize(t.Key()) + wireMinSize(t.Elem())
		entrySize := int(t.Key().Size()+t.Elem().Size()) + 8 // and a map's per-entry overhead, roughly
		c.enc = func(e *encoder, v reflect.Value) {
			if v.IsNil() {
				e.uvarint(0)
				return
			}
			if !e.enter(v) {
				return
			}
			e.uvarint(uint64(v.Len()) + 1)
			it := v.MapRange()
			for it.Next() && e.err == nil {
				kc.enc(e, it.Key())
				vc.enc(e, it.Value())
			}
			e.leave(v)
		}
		c.dec = func(d *decoder, v reflect.Value) {
			n, ok := d.length(minSize)
			if !ok || !d.enter() || !d.charge(48+n*entrySize) {
				v.SetZero()
				return
			}
			m := reflect.MakeMapWithSize(t, n)
			k := reflect.New(t.Key()).Elem()
			e := reflect.New(t.Elem()).Elem()
			for i := 0; i < n && d.err == nil; i++ {
				k.SetZero()
				e.SetZero()
				kc.dec(d, k)
				vc.dec(d, e)
				m.SetMapIndex(k, e)
			}
			d.depth--
			v.Set(m)
		}
	case reflect.Pointer:
		ec, err := b.build(t.Elem(), "*"+path)
		if err != nil {
			return err
		}
		elemSize := int(t.Elem().Size())
		c.enc = func(e *encoder, v reflect.Value) {
			if v.IsNil() {
				e.bool(false)
				return
			}
			if !e.enter(v) {
				return
			}
			e.bool(true)
			ec.enc(e, v.Elem())
			e.leave(v)
		}
		c.dec = func(d *decoder, v reflect.Value) {
			if !d.bool() || !d.enter() || !d.charge(elemSize) {
				v.SetZero()
				return
			}
			p := reflect.New(t.Elem())
			ec.dec(d, p.Elem())
			d.depth--
			v.Set(p)
		}
	case reflect.Struct:
		type field struct {
			index int
			c     *typeCodec
		}
		var fields []field
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "_" {
				continue
			}
			if !f.IsExported() {
				return fmt.Errorf("%s: %w: struct field %s of %v is unexported", path, ErrUnsupportedType, f.Name, t)
			}
			fc, err := b.build(f.Type, path+"."+f.Name)
			if err != nil {
				return err
			}
			fields = append(fields, field{i, fc})
		}
		c.enc = func(e *encoder, v reflect.Value) {
			for _, f := range fields {
				if e.err != nil {
					return
				}
				f.c.enc(e, v.Field(f.index))
			}
		}
		c.dec = func(d *decoder, v reflect.Value) {
			for _, f := range fields {
				if d.err != nil {
					return
				}
				f.c.dec(d, v.Field(f.index))
			}
		}
	case reflect.Chan:
		return fmt.Errorf("%s: %w: a channel (%v) cannot cross a process boundary", path, ErrUnsupportedType, t)
	case reflect.Func:
		return fmt.Errorf("%s: %w: a func (%v) cannot cross a process boundary", path, ErrUnsupportedType, t)
	case reflect.UnsafePointer:
		return fmt.Errorf("%s: %w: an unsafe.Pointer cannot cross a process boundary", path, ErrUnsupportedType)
	case reflect.Interface:
		return fmt.Errorf("%s: %w: an interface value (%v) cannot cross a process boundary; only a leading context.Context and a trailing error are allowed", path, ErrUnsupportedType, t)
	default:
		return fmt.Errorf("%s: %w: %v", path, ErrUnsupportedType, t)
	}
	return nil
}

// wireMinSize is a lower bound of the encoded size of a value of t, used to
// refuse lengths that the remaining input cannot hold.
func wireMinSize(t reflect.Type) int {
	if t.Implements(binaryMarshalerType) && t.Kind() != reflect.Interface {
		return 1
	}
	switch t.Kind() {
	case reflect.Array:
		return t.Len() * wireMinSize(t.Elem())
	case reflect.Struct:
		n := 0
		for i := range t.NumField() {
			if t.Field(i).Name != "_" {
				n += wireMinSize(t.Field(i).Type)
			}
		}
		return n
	case reflect.Float32, reflect.Float64:
		return 8
	case reflect.Complex64, reflect.Complex128:
		return 16
	}
	return 1
}

// Limits of one encoded value, the same on both ends of the call channel.
const (
	// maxDepth bounds the nesting of pointers, slices and maps in one
	// message (an argument list, a result list or an HTTP head): a value
	// nested deeper is refused by the encoder (ErrTooLarge) and by the
	// decoder, so that neither end can be driven into a stack overflow.
	// Recursive types can only nest through these three kinds.
	maxDepth = 10000
	// cycleCheckDepth is the depth past which the encoder remembers the
	// pointers, slices and maps on its path, to tell a cyclic value from a
	// deep one (encoding/json does the same): shallow values pay nothing.
	cycleCheckDepth = 100
	// maxEmptyElems bounds slices and maps of zero-size elements.
	maxEmptyElems = 1 << 20
	// allocPerByte and allocSlack bound what decoding a message may
	// allocate: allocPerByte times its size plus allocSlack. A nil inner
	// slice costs one byte on the wire and 24 in memory; without this
	// bound a frame of them would cost the host 24 times its size.
	allocPerByte = 16
	allocSlack   = 1 << 20
)

var (
	errTooDeep = fmt.Errorf("%w: value nested more than %d levels deep (pointers, slices and maps)", ErrTooLarge, maxDepth)
	errCyclic  = fmt.Errorf("%w: cyclic value: a pointer, slice or map refers back to one that contains it (such as n.Next = n)", ErrUnsupportedType)
)

// encoder appends to a byte slice.
type encoder struct {
	b     []byte
	err   error
	depth int                // pointers, slices and maps entered
	seen  map[visit]struct{} // those on the path, past cycleCheckDepth
}

// visit identifies a pointer, slice or map on the encoder's path.
type visit struct {
	ptr uintptr
	len int
	typ reflect.Type
}

// enter counts one level of nesting into v (a non-nil pointer, slice or
// map) and refuses values nested too deeply or cyclic ones.
func (e *encoder) enter(v reflect.Value) bool {
	if e.err != nil {
		return false
	}
	e.depth++
	if e.depth <= cycleCheckDepth {
		return true
	}
	if e.depth > maxDepth {
		e.fail(errTooDeep)
		return false
	}
	if e.seen == nil {
		e.seen = make(map[visit]struct{})
	}
	k := visitOf(v)
	if _, ok := e.seen[k]; ok {
		e.fail(errCyclic)
		return false
	}
	e.seen[k] = struct{}{}
	return true
}

// leave undoes enter.
func (e *encoder) leave(v reflect.Value) {
	if e.depth > cycleCheckDepth && e.seen != nil {
		delete(e.seen, visitOf(v))
	}
	e.depth--
}

func visitOf(v reflect.Value) visit {
	k := visit{ptr: uintptr(v.UnsafePointer()), typ: v.Type()}
	if v.Kind() == reflect.Slice {
		k.len = v.Len() // a sub-slice at the same address is another value
	}
	return k
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}
func (e *encoder) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }
func (e *encoder) varint(x int64)   { e.b = binary.AppendVarint(e.b, x) }
func (e *encoder) float(x float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(x)) }
func (e *encoder) bool(x bool) {
	if x {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *encoder) string(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	e.b = append(e.b, b...)
}

// decoder reads from a byte slice. The first error sticks; later reads
// return zero values.
type decoder struct {
	b     []byte
	err   error
	depth int // pointers, slices and maps entered
	alloc int // bytes the decoder may still allocate
}

// newDecoder returns a decoder of one message, b.
func newDecoder(b []byte) decoder {
	return decoder{b: b, alloc: allocPerByte*len(b) + allocSlack}
}

// enter counts one level of nesting; the caller decrements d.depth when it
// returns true.
func (d *decoder) enter() bool {
	if d.depth++; d.depth > maxDepth {
		d.depth--
		d.fail(errTooDeep)
		return false
	}
	return d.err == nil
}

// charge counts n bytes the decoder is about to allocate against the
// message's allowance.
func (d *decoder) charge(n int) bool {
	if d.err != nil {
		return false
	}
	if n < 0 || n > d.alloc {
		d.fail(fmt.Errorf("%w: decoding the message would allocate more than %d times its size plus %d bytes", ErrTooLarge, allocPerByte, allocSlack))
		return false
	}
	d.alloc -= n
	return true
}

var errShort = errors.New("truncated message")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(errShort)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if !d.skip(n) {
		return 0
	}
	return x
}

func (d *decoder) varint() int64 {
	x, n := binary.Varint(d.b)
	if !d.skip(n) {
		return 0
	}
	return x
}

// skip consumes the n bytes a varint read from the input took, and reports
// whether it was read: n is that of binary.Uvarint and binary.Varint, 0 or
// less for a short or overlong one.
func (d *decoder) skip(n int) bool {
	if d.err != nil {
		return false
	}
	if n <= 0 {
		d.fail(errShort)
		return false
	}
	d.b = d.b[n:]
	return true
}

func (d *decoder) float() float64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(p))
}

func (d *decoder) bool() bool {
	p := d.take(1)
	if p == nil {
		return false
	}
	switch p[0] {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(fmt.Errorf("bad bool byte %d", p[0]))
	return false
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	return d.take(int(n))
}

// length reads the length prefix of a slice or map (0 means nil, n+1 means
// n elements) and checks that the rest of the input can hold n elements of
// at least minSize bytes each. Elements that encode to nothing are bounded
// by maxEmptyElems instead.
func (d *decoder) length(minSize int) (n int, ok bool) {
	x := d.uvarint()
	if d.err != nil || x == 0 {
		return 0, false
	}
	x--
	limit := uint64(maxEmptyElems)
	if minSize > 0 {
		limit = uint64(len(d.b) / minSize)
	}
	if x > limit {
		d.fail(errShort)
		return 0, false
	}
	return int(x), true
}

// describer writes a canonical description of a type that two processes
// can compare to agree on it: its structure, with the package path and name
// of every named type, and struct tags. Equal descriptions mean that the
// codecs the two ends compile are compatible and the types are the same
// declarations.
type describer struct {
	seen map[reflect.Type]bool // named types already spelled out
}

func (d *describer) write(b *strings.Builder, t reflect.Type) {
	switch t {
	case errorType:
		b.WriteString("error")
		return
	case contextType:
		b.WriteString("context.Context")
		return
	}
	if t.Name() != "" {
		if t.PkgPath() == "" { // predeclared
			b.WriteString(t.Name())
			return
		}
		b.WriteString(t.PkgPath())
		b.WriteByte('.')
		b.WriteString(t.Name())
		if d.seen[t] {
			return
		}
		d.seen[t] = true
		if t.Implements(binaryMarshalerType) && reflect.PointerTo(t).Implements(binaryUnmarshalerType) && t.Kind() != reflect.Interface {
			b.WriteString("(binary)")
			return
		}
		b.WriteByte('=')
	}
	d.literal(b, t)
}

// literal writes t's structure, ignoring its name.
func (d *describer) literal(b *strings.Builder, t reflect.Type) {
	switch t.Kind() {
	case reflect.Pointer:
		b.WriteByte('*')
		d.write(b, t.Elem())
	case reflect.Slice:
		b.WriteString("[]")
		d.write(b, t.Elem())
	case reflect.Array:
		fmt.Fprintf(b, "[%d]", t.Len())
		d.write(b, t.Elem())
	case reflect.Map:
		b.WriteString("map[")
		d.write(b, t.Key())
		b.WriteByte(']')
		d.write(b, t.Elem())
	case reflect.Chan:
		b.WriteString(t.ChanDir().String())
		b.WriteByte(' ')
		d.write(b, t.Elem())
	case reflect.Struct:
		b.WriteString("struct{")
		for i := range t.NumField() {
			f := t.Field(i)
			if i > 0 {
				b.WriteString("; ")
			}
			if f.Anonymous {
				b.WriteString("embed ")
			}
			b.WriteString(f.Name)
			b.WriteByte(' ')
			d.write(b, f.Type)
			if f.Tag != "" {
				fmt.Fprintf(b, " %q", f.Tag)
			}
		}
		b.WriteByte('}')
	case reflect.Func:
		b.WriteString("func(")
		for i := range t.NumIn() {
			if i > 0 {
				b.WriteString(", ")
			}
			if t.IsVariadic() && i == t.NumIn()-1 {
				b.WriteString("...")
				d.write(b, t.In(i).Elem())
				continue
			}
			d.write(b, t.In(i))
		}
		b.WriteByte(')')
		switch t.NumOut() {
		case 0:
		case 1:
			b.WriteByte(' ')
			d.write(b, t.Out(0))
		default:
			b.WriteString(" (")
			for i := range t.NumOut() {
				if i > 0 {
					b.WriteString(", ")
				}
				d.write(b, t.Out(i))
			}
			b.WriteByte(')')
		}
	case reflect.Interface:
		b.WriteString("interface{")
		for i := range t.NumMethod() {
			if i > 0 {
				b.WriteString("; ")
			}
			m := t.Method(i)
			b.WriteString(m.Name)
			d.literal(b, m.Type)
		}
		b.WriteByte('}')
	default:
		b.WriteString(t.Kind().String())
	}
}
