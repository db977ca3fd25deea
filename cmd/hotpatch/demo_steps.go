package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/bundle"
)

// The steps of the demo, in the order of the README's tour.

// What the patches of the tour answer.
const (
	greetScript   = "Welcome to Inkwell Books, Ada!"  // patches.sample/greet.go, as a script and as a process
	greetNative   = "from native code"                // native.sample/greet_native.go
	greetRedirect = "off from 10 copies this week"    // native.sample/percent_redirect.go
	saleNote      = "science-fiction week"            // patches.sample/price_sale.go
	bulkDiscount  = 550                               // 5% of 10 × €10.99, in cents: shop.Percent
	bulkDoubled   = 1099                              // 10%: shop.Percent redirected
	demoSevenPath = "/price?isbn=9780441013593&qty=7" // the input the panicking patch fails on
	demoSaleCheck = "/price?isbn=9780441013593&qty=1" // the sale's note shows on any quantity
	greetBaseline = "hello, ada"                      // shop.Greet
)

// demoSteps returns the steps; short leaves out those that build native
// and process patches.
func demoSteps(short bool) []demoStep {
	steps := []demoStep{{"script", "script", stepScript}}
	revertName, revertWant := "greet.go", func(ctx context.Context, d *demoRun) error {
		_, err := d.awaitGreeting(ctx, greetBaseline)
		return err
	}
	if !short {
		steps = append(steps,
			demoStep{"native", "native", stepNative},
			demoStep{"process", "process", stepProcess},
			demoStep{"redirect", "native", stepRedirect})
		revertName, revertWant = "percent_redirect.so", func(ctx context.Context, d *demoRun) error {
			if err := d.awaitDiscount(ctx, bulkDiscount); err != nil {
				return err
			}
			_, err := d.awaitGreeting(ctx, greetScript) // the process patch below serves again
			return err
		}
	}
	return append(steps,
		demoStep{"revert", "admin", func(ctx context.Context, d *demoRun) (time.Duration, string, error) {
			return stepRevert(ctx, d, revertName, revertWant)
		}},
		demoStep{"bundle", "signed", stepBundle},
		demoStep{"baseline", "restart", stepBaseline},
		demoStep{"refused", "script", stepRefused},
		demoStep{"rollback", "script", stepRollback})
}

// stepScript drops the sample greeting into the patch directory.
func stepScript(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	t, err := d.installFile(d.sample("patches.sample/greet.go"), "greet.go")
	if err != nil {
		return 0, "", err
	}
	body, err := d.awaitGreeting(ctx, greetScript)
	return time.Since(t), "greet.go: " + body, err
}

// buildPatch builds a native or process patch of src into the build
// directory, with the progress indicator, and returns its path and a
// note on the build.
func (d *demoRun) buildPatch(ctx context.Context, kind, src, out string) (string, string, error) {
	var log bytes.Buffer
	req := buildRequest{File: src, Out: filepath.Join(d.build, out), Stdout: &log, Stderr: &log}
	build := buildProcessPatch
	if kind == "native" {
		req.Baseline, req.Module = d.bin, d.root
		build = buildNativePatch
	} else {
		req.ModuleRoot = d.root
	}
	took, err := d.progress(ctx, fmt.Sprintf("building %s as a %s patch", filepath.Base(src), kind), func(ctx context.Context) error {
		return build(ctx, req)
	})
	if ctx.Err() != nil {
		return "", "", ctx.Err()
	}
	if err != nil {
		return "", "", fmt.Errorf("building %s: %w\n%s", src, err, log.String())
	}
	return req.Out, fmt.Sprintf("built in %s", round(took)), nil
}

// stepNative builds the sample native greeting against the baseline and
// drops it in.
func stepNative(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	so, built, err := d.buildPatch(ctx, "native", d.sample("native.sample/greet_native.go"), "greet.so")
	if err != nil {
		return 0, "", err
	}
	t, err := d.installFile(so, "greet.so")
	if err != nil {
		return 0, "", err
	}
	body, err := d.awaitGreeting(ctx, greetNative)
	return time.Since(t), fmt.Sprintf("greet.so (%s): %s", built, body), err
}

// stepProcess builds the sample greeting as a process patch and drops it
// in, over the native one.
func stepProcess(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	proc, built, err := d.buildPatch(ctx, "process", d.sample("patches.sample/greet.go"), "greet.proc")
	if err != nil {
		return 0, "", err
	}
	t, err := d.installFile(proc, "greet.proc")
	if err != nil {
		return 0, "", err
	}
	body, err := d.awaitGreeting(ctx, greetScript)
	return time.Since(t), fmt.Sprintf("greet.proc (%s), in a process of its own: %s", built, body), err
}

// stepRedirect builds the sample that redirects shop.Percent, which no
// slot names, and drops it in: the baseline's price doubles its bulk
// discount.
func stepRedirect(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	so, built, err := d.buildPatch(ctx, "native", d.sample("native.sample/percent_redirect.go"), "percent_redirect.so")
	if err != nil {
		return 0, "", err
	}
	t, err := d.installFile(so, "percent_redirect.so")
	if err != nil {
		return 0, "", err
	}
	if err := d.awaitDiscount(ctx, bulkDoubled); err != nil {
		return time.Since(t), "", err
	}
	took := time.Since(t)
	_, err = d.awaitGreeting(ctx, greetRedirect)
	return took, fmt.Sprintf("percent_redirect.so (%s): shop.Percent redirected, the bulk discount on 10 × Dune goes from €5.50 to €10.99", built), err
}

// stepRevert reverts the patch from the file name through the admin API,
// then removes the file, so that the baseline step does not bring it
// back.
func stepRevert(ctx context.Context, d *demoRun, name string, back func(context.Context, *demoRun) error) (time.Duration, string, error) {
	id, err := d.patchFrom(ctx, name)
	if err != nil {
		return 0, "", err
	}
	body, _ := json.Marshal(api.RevertRequest{ID: id})
	t := time.Now()
	var res api.Result
	if err := d.call(ctx, "POST", api.PathRevert, bytes.NewReader(body), &res); err != nil {
		return 0, "", err
	}
	if err := back(ctx, d); err != nil {
		return time.Since(t), "", err
	}
	took := time.Since(t)
	return took, fmt.Sprintf("POST %s %s: what it covered serves again", api.PathRevert, id), d.remove(name)
}

// stepBundle signs the sample sale as a bundle with the key the server
// trusts and pushes it through the admin API.
func stepBundle(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	src := d.sample("patches.sample/price_sale.go")
	data, err := os.ReadFile(src)
	if err != nil {
		return 0, "", err
	}
	m, err := describePayload(src, data)
	if err != nil {
		return 0, "", err
	}
	m.ID, m.Version, m.Author, m.Description, m.Created = "price_sale", 1, "hotpatch demo", "science-fiction week", time.Now()
	priv, err := bundle.ReadPrivateKey(d.key)
	if err != nil {
		return 0, "", err
	}
	out := filepath.Join(d.build, "price_sale.hpatch")
	if err := writeBundle(out, m, data, priv, &bytes.Buffer{}); err != nil {
		return 0, "", err
	}
	hp, err := os.ReadFile(out)
	if err != nil {
		return 0, "", err
	}
	t := time.Now()
	var res api.PushResult
	if err := d.call(ctx, "POST", api.PathPush, bytes.NewReader(hp), &res); err != nil {
		return 0, "", err
	}
	_, err = d.awaitBody(ctx, demoSaleCheck, "the sale's note", func(b string) bool { return strings.Contains(b, saleNote) })
	return time.Since(t), fmt.Sprintf("price_sale.hpatch signed, POST %s: %s (%s), stored in the state directory", api.PathPush, res.ID, res.Kind), err
}

// stepBaseline takes the baseline step through the admin API: a new
// process of the same binary takes the listener over.
func stepBaseline(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	var before api.Status
	if err := d.call(ctx, "GET", api.PathStatus, nil, &before); err != nil {
		return 0, "", err
	}
	t := time.Now()
	var res api.Result
	if err := d.call(ctx, "POST", api.PathRestart, nil, &res); err != nil {
		return 0, "", err
	}
	var after api.Status
	err := await(ctx, time.Minute, "a status from the new process", func(ctx context.Context) error {
		if err := d.call(ctx, "GET", api.PathStatus, nil, &after); err != nil {
			return fmt.Errorf("%w: %v", errNotYet, err)
		}
		if after.PID == before.PID {
			return errNotYet
		}
		return nil
	})
	if err != nil {
		return time.Since(t), "", err
	}
	took := time.Since(t)
	// The new process applied the patch directory and the journal
	// (the pushed bundle) again before it answered.
	if _, err := d.awaitBody(ctx, demoSaleCheck, "the sale after the restart", func(b string) bool { return strings.Contains(b, saleNote) }); err != nil {
		return took, "", err
	}
	return took, fmt.Sprintf("POST %s: pid %d -> %d, %s applied again", api.PathRestart, before.PID, after.PID, patchCount(len(after.Stack))), nil
}

// patchCount says n patches in words: "1 patch", "4 patches".
func patchCount(n int) string {
	if n == 1 {
		return "1 patch"
	}
	return strconv.Itoa(n) + " patches"
}

// badScript does not compile: it returns an int where the slot wants a
// string.
const badScript = `package patch

// Greet has a type error: the script is refused, the greeting keeps its
// version.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	return len(name)
}
`

// stepRefused drops a script with a type error: it is refused with its
// file and line, and the previous version keeps serving.
func stepRefused(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	before, err := get(ctx, d.hc, d.base+demoGreetPath)
	if err != nil {
		return 0, "", err
	}
	t, err := d.install([]byte(badScript), "bad_greet.go", 0o644)
	if err != nil {
		return 0, "", err
	}
	ev, err := d.awaitEvent(ctx, "rejected", "bad_greet.go", t)
	if err != nil {
		return time.Since(t), "", err
	}
	took := time.Since(t)
	after, err := get(ctx, d.hc, d.base+demoGreetPath)
	if err == nil && after != before {
		err = fmt.Errorf("the greeting changed from %q to %q though the patch was refused", before, after)
	}
	if err != nil {
		return took, "", err
	}
	reason := ev.Err
	if i := strings.Index(reason, "bad_greet.go:"); i >= 0 {
		reason = reason[i:]
	}
	return took, fmt.Sprintf("refused (%s); the greeting keeps its version", firstLine(reason, 90)), d.remove("bad_greet.go")
}

// panicScript fails on seven copies: the middleware answers 500 and
// counts it, and the rollback policy (3 failures) reverts it.
const panicScript = `package patch

import "github.com/hotpatch-go/hotpatch/examples/httpserver/shop"

// Price has a bug on seven copies.
//
//hotpatch:slot shop.Price
func Price(b shop.Book, qty int) shop.Quote {
	if qty == 7 {
		panic("a bug on seven copies")
	}
	return shop.Price(b, qty)
}
`

// stepRollback drops a patch that panics on one input, which the load
// never sends; the demo sends it until the patch is rolled back.
func stepRollback(ctx context.Context, d *demoRun) (time.Duration, string, error) {
	t, err := d.install([]byte(panicScript), "panic_price.go", 0o644)
	if err != nil {
		return 0, "", err
	}
	if _, err := d.awaitEvent(ctx, "applied", "panic_price.go", t); err != nil {
		return time.Since(t), "", err
	}
	applied := time.Now()
	probes, errs := 0, 0
	err = await(ctx, time.Minute, "the rollback of panic_price.go", func(ctx context.Context) error {
		probes++
		if _, err := get(ctx, d.hc, d.base+demoSevenPath); err == nil {
			return nil // served by the patch below: rolled back
		}
		errs++
		return errNotYet
	})
	if err != nil {
		return time.Since(applied), "", err
	}
	ev, err := d.awaitEvent(ctx, "rolled-back", "panic_price.go", t)
	took := time.Since(applied)
	if err != nil {
		return took, "", err
	}
	_ = ev
	return took, fmt.Sprintf("panics on qty=7: %d of %d probes failed (meant), then rolled back; the sale serves again", errs, probes), d.remove("panic_price.go")
}

// firstLine returns s's first line, cut to n runes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
