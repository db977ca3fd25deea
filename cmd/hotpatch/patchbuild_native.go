package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// buildNativePatch builds a native patch with internal/patchbuild.
func buildNativePatch(ctx context.Context, opts buildRequest) error {
	log := io.Discard
	if opts.Verbose {
		log = opts.Stderr
	}
	progress := &packageLines{w: opts.Stderr}
	plan, err := patchbuild.Prepare(ctx, patchbuild.Options{
		Baseline: opts.Baseline,
		Source:   opts.File,
		Output:   opts.Out,
		Module:   opts.Module,
		Log:      log,
		Progress: progress,
	})
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(opts.Stderr, "hotpatch patch build: warning:", w)
	}
	fmt.Fprintf(opts.Stderr, "hotpatch patch build: building %s as a plugin for %s (the first patch build for a baseline "+
		"compiles its dependencies again in plugin mode, which can take a minute; later ones reuse the build cache)\n",
		opts.File, opts.Baseline)
	res, err := plan.Run(ctx)
	progress.flush()
	if err != nil {
		return err
	}
	out := res.Output
	if wd, err := os.Getwd(); err == nil && strings.HasPrefix(out, wd+string(os.PathSeparator)) {
		out = out[len(wd)+1:]
	}
	fmt.Fprintf(opts.Stdout, "%s: native patch %s for baseline %s, slots %s\n",
		out, res.Manifest.ID, res.Manifest.Baseline.Hash()[:16], strings.Join(res.Manifest.SlotNames(), ", "))
	return nil
}

// packageLines shows the progress of a go build -v: the import path of
// each package as it is compiled, indented. Other lines (compiler
// messages) are left out: the error of a failed build carries them.
type packageLines struct {
	w       io.Writer
	partial []byte
}

func (p *packageLines) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.line(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
	}
}

func (p *packageLines) line(s string) {
	if s != "" && !strings.HasPrefix(s, "#") && !strings.ContainsAny(s, " \t:") {
		fmt.Fprintf(p.w, "\t%s\n", s)
	}
}

func (p *packageLines) flush() {
	p.line(string(p.partial))
	p.partial = nil
}
