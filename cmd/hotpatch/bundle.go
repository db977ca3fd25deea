package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/internal/atomicfile"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// `hotpatch keygen`, `hotpatch bundle` and `hotpatch verify`: the signing
// side of bundles (package bundle, docs/bundles.md).

// keygenCommand is "hotpatch keygen".
func keygenCommand() *command {
	return &command{
		name:     "keygen",
		summary:  "make an ed25519 key pair for signing bundles",
		synopsis: "hotpatch keygen -o NAME",
		doc: `
Writes a new ed25519 key pair: the private key to NAME (mode 0600) and
the public key to NAME.pub, both PEM (PKCS #8 and PKIX, as openssl pkey
reads them). Neither file is overwritten. Give NAME.pub to the hosts that
are to trust the key (bundle.Policy.Trusted, bundle.ReadTrusted); keep
NAME private: the commands that read it refuse it when others may read
or write it.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			out := fs.String("o", "", "the `name` of the private key file; the public key goes to NAME.pub (required)")
			return func(_ context.Context, args []string, stdout, _ io.Writer) error {
				if *out == "" || len(args) > 0 {
					return usageError("want -o NAME and no arguments")
				}
				pub, err := bundle.GenerateKey(*out)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "wrote %s (private, mode 0600) and %s.pub; key ID %s\n", *out, *out, bundle.KeyIDOf(pub))
				return nil
			}
		},
	}
}

// bundleCommand is "hotpatch bundle".
func bundleCommand() *command {
	return &command{
		name:     "bundle",
		summary:  "build and sign a bundle (*.hpatch) of a patch",
		synopsis: "hotpatch bundle (--key KEY | --unsigned) [-o OUT.hpatch] [--id ID] [--version N] [--expires DUR] [--author A] [--description D] PAYLOAD",
		doc: `
Builds a bundle of PAYLOAD, a script (.go), a native patch (.so) or a
process patch (.proc), and signs it with the private key KEY (written by
hotpatch keygen). The kind comes from PAYLOAD's extension; the slots it
serves, with their types where the payload says them, and, for a native
patch, the baseline fingerprint it was built against are read from it.

The bundle's ID (default: PAYLOAD's name without its extension) names the
fix; --version orders its bundles: a host refuses a bundle older than one
of the same ID it applied (docs/bundles.md). --expires DUR (such as 72h)
makes hosts refuse the bundle after that long. --unsigned writes an
unsigned bundle, which only hosts that do not require signatures accept.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var (
				key, out, id, author, desc string
				version                    uint64
				expires                    time.Duration
				unsigned                   bool
			)
			fs.StringVar(&key, "key", "", "the private key `file` to sign with")
			fs.BoolVar(&unsigned, "unsigned", false, "write an unsigned bundle")
			fs.StringVar(&out, "o", "", "the bundle `file` to write (default: PAYLOAD's name with .hpatch)")
			fs.StringVar(&id, "id", "", "the bundle's `ID` (default: PAYLOAD's name without its extension)")
			fs.Uint64Var(&version, "version", 1, "the bundle's version `N`, from 1")
			fs.DurationVar(&expires, "expires", 0, "refuse the bundle after this `duration` (default: never)")
			fs.StringVar(&author, "author", os.Getenv("USER"), "who built it")
			fs.StringVar(&desc, "description", "", "what it fixes")
			return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
				switch {
				case len(args) != 1:
					return usageError("want one PAYLOAD, have %d arguments", len(args))
				case key == "" && !unsigned:
					return usageError("want --key KEY (or --unsigned)")
				case key != "" && unsigned:
					return usageError("--key and --unsigned exclude each other")
				case expires < 0:
					return usageError("--expires %v is negative", expires)
				case expires > 0 && expires < time.Second:
					// Bundle times are whole seconds: a shorter expiry
					// would round to none, or to a bundle born expired.
					return usageError("--expires %v is under a second, the unit of bundle times", expires)
				case version == 0:
					return usageError("--version 0: versions start at 1")
				case id != "" && !validID(id):
					return usageError("--id %q: an ID is letters, digits, '_', '-' and '.' (ASCII, at most 128, not starting with '.')", id)
				case !bundle.PlainText(author):
					return usageError("--author %q holds a control or bidirectional-formatting character", author)
				case !bundle.PlainText(desc):
					return usageError("--description %q holds a control or bidirectional-formatting character", desc)
				case out != "" && !strings.HasSuffix(out, bundle.Ext):
					return usageError("-o %s: a bundle's name ends in %s (hosts load no other)", out, bundle.Ext)
				}
				if out != "" {
					if fi, err := os.Stat(out); err == nil && fi.IsDir() {
						return usageError("-o %s is a directory: give the bundle's file name", out)
					}
				}
				var priv []byte
				if key != "" {
					k, err := bundle.ReadPrivateKey(key)
					if err != nil {
						return err
					}
					priv = k
				}
				payload := args[0]
				data, _, err := patchfile.ReadFile(payload, bundle.DefaultMaxPayload)
				if err != nil {
					return err
				}
				m, err := describePayload(payload, data)
				if err != nil {
					return err
				}
				if m.Kind == "process" && len(m.Slots) == 0 {
					// A stock go-plugin plugin, or a stripped build: the
					// bundle is made, but say what a host will do with it.
					fmt.Fprintf(stderr, "hotpatch bundle: warning: %s lists no slots: it was not built by `hotpatch patch build --kind process`, or its symbols were stripped; a host's process loader learns its slots at the handshake, and refuses a plugin that is not hotpatch's (a go-plugin plugin of your own needs process.NewCustom in the host)\n", payload)
				}
				base := filepath.Base(payload)
				m.ID, m.Version, m.Author, m.Description = id, version, author, desc
				if m.ID == "" {
					m.ID = strings.TrimSuffix(base, filepath.Ext(base))
					if !validID(m.ID) {
						return usageError("the payload's name %q is no bundle ID (ASCII letters, digits, '_', '-' and '.'): give --id", m.ID)
					}
				}
				if !validID(strings.TrimSuffix(base, filepath.Ext(base))) {
					return usageError("the payload's name %q is not one a bundle carries (ASCII letters, digits, '_', '-' and '.'): rename it", base)
				}
				m.Created = time.Now()
				if expires > 0 {
					m.Expires = m.Created.Add(expires)
				}
				if out == "" {
					out = strings.TrimSuffix(base, filepath.Ext(base)) + bundle.Ext
				}
				return writeBundle(out, m, data, priv, stdout)
			}
		},
	}
}

// validID reports whether id is a bundle ID (bundle.Manifest.ID): the
// names SplitPatchID reads back are exactly those.
func validID(id string) bool {
	got, _, ok := bundle.SplitPatchID(id + "@1")
	return ok && got == id
}

// writeBundle writes the bundle to a temporary file renamed over out, so
// that a watched directory never sees half a bundle.
func writeBundle(out string, m bundle.Manifest, payload, priv []byte, stdout io.Writer) error {
	err := atomicfile.Write(out, atomicfile.Options{Perm: 0o644}, func(f *os.File) error {
		var err error
		m, err = bundle.Write(f, m, payload, priv)
		return err
	})
	if err != nil {
		return err
	}
	signed := "unsigned"
	if priv != nil {
		signed = "signed"
	}
	fmt.Fprintf(stdout, "%s: %s bundle %s, %s payload %s (%d bytes), %d slot(s)\n", out, signed, m.PatchID(), m.Kind, m.Payload.Name, m.Payload.Size, len(m.Slots))
	return nil
}

// verifyCommand is "hotpatch verify".
func verifyCommand() *command {
	return &command{
		name:     "verify",
		summary:  "check a bundle's signature and payload and print its manifest",
		synopsis: "hotpatch verify --trust PUB [--trust PUB...] [--json] FILE.hpatch",
		doc: `
Checks FILE.hpatch as a host that requires signatures would, short of
loading it: its framing, its signature by a key of the trust files PUB
(NAME.pub files of hotpatch keygen; a file may hold several keys), its
expiry, and its payload against the SHA-256 the manifest pins. It prints
the manifest, or with --json the manifest as stored (the signed bytes).
Exit status 0 when the bundle passes, 1 with the reason when it does not.
The replay rule and the baseline of a native payload depend on the host
and are checked there.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var trust []string
			fs.Func("trust", "a trust `file` of public keys (repeatable)", func(s string) error { trust = append(trust, s); return nil })
			asJSON := fs.Bool("json", false, "print the manifest as stored")
			return func(_ context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) != 1 {
					return usageError("want one FILE.hpatch, have %d arguments", len(args))
				}
				if len(trust) == 0 {
					return usageError("want --trust PUB")
				}
				pol := bundle.Policy{RequireSigned: true}
				for _, t := range trust {
					keys, err := bundle.ReadTrusted(t)
					if err != nil {
						return err
					}
					pol.Trusted = append(pol.Trusted, keys...)
				}
				return verifyBundle(args[0], &pol, *asJSON, stdout)
			}
		},
	}
}

func verifyBundle(path string, pol *bundle.Policy, asJSON bool, stdout io.Writer) error {
	b, err := bundle.Open(path, pol.Limits)
	if err != nil {
		return err
	}
	defer b.Close()
	signer, err := pol.Verify(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	head := &headWriter{max: 512}
	if err := b.CopyPayload(head); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bundle.CheckPayloadKind(b.Manifest.Kind, head.buf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if asJSON {
		_, err := stdout.Write(b.Raw)
		return err
	}
	m := b.Manifest
	fmt.Fprintf(stdout, "%s: OK, signed by trusted key %s\n", path, signer)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "  %-12s %s\n", k, v)
		}
	}
	row("id", m.ID)
	row("version", fmt.Sprint(m.Version))
	row("patch ID", m.PatchID())
	row("kind", m.Kind)
	row("payload", fmt.Sprintf("%s, %d bytes, sha256 %s", m.Payload.Name, m.Payload.Size, m.Payload.SHA256))
	row("baseline", m.Baseline)
	for _, s := range m.Slots {
		row("slot", strings.TrimSpace(s.Name+" "+s.Type))
	}
	row("created", m.Created.UTC().Format(time.RFC3339))
	if !m.Expires.IsZero() {
		row("expires", m.Expires.UTC().Format(time.RFC3339))
	}
	row("author", m.Author)
	row("description", m.Description)
	return nil
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	buf []byte
	max int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if n := w.max - len(w.buf); n > 0 {
		w.buf = append(w.buf, p[:min(n, len(p))]...)
	}
	return len(p), nil
}
