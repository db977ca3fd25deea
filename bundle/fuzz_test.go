package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
)

// FuzzReadBundle: whatever the bytes, Read returns a bundle or an error
// of the package, never reads past the file, never allocates more than
// the limits allow; a bundle it returns has a manifest that passes its
// checks and a payload of exactly the declared size.
func FuzzReadBundle(f *testing.F) {
	f.Add(build(f, testManifest(), scriptSrc, testKey))
	f.Add(build(f, testManifest(), scriptSrc, nil))
	f.Add([]byte(magic + "\x00\x00\x00\x02{}\x00\x00"))
	f.Add([]byte(magic + "\xff\xff\xff\xff"))
	f.Add(gzipped([]byte("hello")))
	lim := Limits{MaxManifest: 4096, MaxPayload: 4096}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Read(bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			if !errors.Is(err, ErrNotBundle) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is none of the package's", err)
			}
			return
		}
		if err := b.Manifest.Check(); err != nil {
			t.Fatalf("accepted manifest fails its check: %v", err)
		}
		n, err := io.Copy(io.Discard, io.NewSectionReader(b.payload, 0, b.payload.Size()))
		if err != nil || n != b.Manifest.Payload.Size {
			t.Fatalf("payload: %d bytes, %v; declared %d", n, err, b.Manifest.Payload.Size)
		}
		pol := &Policy{Trusted: nil, RequireSigned: true}
		if _, err := pol.Verify(b); err == nil {
			t.Fatalf("a fuzzed bundle verified against no trusted key")
		}
		_ = b.CopyPayload(io.Discard)
	})
}

// FuzzManifest: ParseManifest accepts only manifests that pass Check, and
// what it accepts is written back (Write) to a bundle that reads as the
// same manifest.
func FuzzManifest(f *testing.F) {
	data := build(f, testManifest(), scriptSrc, nil)
	b, _ := Read(bytes.NewReader(data), int64(len(data)), Limits{})
	f.Add(b.Raw)
	f.Add([]byte(`{"format":1,"id":"a","id":"b"}`))
	f.Add([]byte(`{"format":1,"id":"a","version":1,"kind":"script","slots":[],"payload":{"name":"a.go","sha256":"` +
		"0000000000000000000000000000000000000000000000000000000000000000" + `","size":1},"created":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseManifest(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if err := m.Check(); err != nil {
			t.Fatalf("parsed manifest fails Check: %v", err)
		}
		// A reader that matches keys exactly sees the same fields: no key
		// set a field by case folding.
		var exact map[string]json.RawMessage
		if err := json.Unmarshal(raw, &exact); err != nil {
			t.Fatalf("accepted manifest is no JSON object: %v", err)
		}
		for k := range exact {
			if !slices.Contains([]string{"format", "id", "version", "kind", "baseline", "slots", "payload", "created", "expires", "author", "description"}, k) {
				t.Fatalf("accepted a manifest with key %q", k)
			}
		}
		payload := bytes.Repeat([]byte{'a'}, int(min(m.Payload.Size, 1<<16)))
		var buf bytes.Buffer
		m2, err := Write(&buf, m, payload, testKey)
		if err != nil {
			return // a size or a time Write normalises out of the schema
		}
		b, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()), Limits{})
		if err != nil {
			t.Fatalf("reading back what Write wrote: %v", err)
		}
		if b.Manifest.PatchID() != m2.PatchID() || b.Manifest.Payload != m2.Payload || b.Manifest.Kind != m2.Kind {
			t.Fatalf("read back %+v, wrote %+v", b.Manifest, m2)
		}
		if _, err := policy().Verify(b); err != nil && !errors.Is(err, ErrExpired) {
			t.Fatalf("a bundle signed with the trusted key: %v", err)
		}
	})
}
