//go:build linux

package main

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// devExtraCgo is a package of the fake server with a cgo file whose slot
// body uses an unexported helper: its edits are native patches.
const devExtraCgo = `package cg

// static int one(void) { return 1; }
import "C"

func two() int { return 2 }

// Val backs a slot.
//
//hotpatch:slot cg.Val
func Val() int {
	return two()
}

// One calls C.
func One() int { return int(C.one()) }
`

// devExtraFake writes the fake server's module, with a file embedded in
// package main, a cgo package, and required modules replaced by a local
// directory beside it and by one nested in its tree; it returns the
// module's directory and the other module's.
func devExtraFake(t *testing.T) (root, lib string) {
	dir := t.TempDir()
	root, lib = filepath.Join(dir, "fake"), filepath.Join(dir, "lib")
	for _, d := range []string{filepath.Join(root, "cg"), filepath.Join(root, "nested"), lib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "go.mod"), "module example.com/fake\n\ngo 1.26.0\n\nrequire (\n\texample.com/lib v0.0.0\n\texample.com/nested v0.0.0\n)\n\n"+
		"replace example.com/lib => ../lib\n\nreplace example.com/nested => ./nested\n")
	src := strings.Replace(devFakeSrc, "import (", "import (\n\t_ \"embed\"\n\t\"example.com/fake/cg\"\n\t\"example.com/lib\"\n\t\"example.com/nested\"", 1)
	src = strings.Replace(src, `fmt.Println("up", helper(), Answer())`, `fmt.Println("up", helper(), Answer(), greeting, cg.Val(), cg.One(), lib.Suffix(), nested.N())`, 1)
	writeFile(t, filepath.Join(root, "main.go"), src+"\n//go:embed greeting.txt\nvar greeting string\n")
	writeFile(t, filepath.Join(root, "greeting.txt"), "hello")
	writeFile(t, filepath.Join(root, "cg", "cg.go"), devExtraCgo)
	writeFile(t, filepath.Join(lib, "go.mod"), "module example.com/lib\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(lib, "lib.go"), "package lib\n\nfunc Suffix() string { return \"!\" }\n")
	writeFile(t, filepath.Join(root, "nested", "go.mod"), "module example.com/nested\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(root, "nested", "n.go"), "package nested\n\nfunc N() int { return 1 }\n")
	return root, lib
}

// TestAttackBDevExtraFiles: the files a server is built from beside the
// main module's .go files are watched, and an edit of one is a baseline
// step that says what the file is: a //go:embed file (unwatched, an edit
// went unseen until an unrelated save, and failed every native patch of
// its package meanwhile), a file of a module replaced by a local
// directory; and a slot body in a cgo file is hot (native), not refused
// by the source record (its file was left out of the overlay).
func TestAttackBDevExtraFiles(t *testing.T) {
	root, lib := devExtraFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "1m", root}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	if line := out.next(t, &from, "hotpatch dev:"); !strings.Contains(line, "started") {
		t.Fatalf("%s\nwant the server started", line)
	}

	writeFile(t, filepath.Join(root, "cg", "cg.go"), strings.Replace(devExtraCgo, "return two()", "return two() + 1", 1))
	if line := out.next(t, &from, "cg/cg.go:"); !strings.Contains(line, "hot (native)") {
		t.Errorf("a slot body edit in a cgo file: %s\nwant hot (native)", line)
	}

	writeFile(t, filepath.Join(lib, "lib.go"), "package lib\n\nfunc Suffix() string { return \"?\" }\n")
	if line := out.next(t, &from, "../lib/lib.go"); !strings.Contains(line, "(not hot: ../lib/lib.go changed (a file of package example.com/lib of module example.com/lib, outside the main module)") {
		t.Errorf("an edit of a replaced module's file: %s\nwant a baseline step for it", line)
	}
	writeFile(t, filepath.Join(lib, "lib.go"), "package lib\n\nfunc Suffix() string { return \"!\" }\n")
	out.next(t, &from, "../lib/lib.go")

	// A module nested in the main module's tree is another module too.
	writeFile(t, filepath.Join(root, "nested", "n.go"), "package nested\n\nfunc N() int { return 2 }\n")
	if line := out.next(t, &from, "nested/n.go"); !strings.Contains(line, "(not hot: nested/n.go changed (a file of package example.com/nested of module example.com/nested, outside the main module)") {
		t.Errorf("an edit of a nested module's file: %s\nwant a baseline step for it", line)
	}
	writeFile(t, filepath.Join(root, "nested", "n.go"), "package nested\n\nfunc N() int { return 1 }\n")
	out.next(t, &from, "nested/n.go")

	writeFile(t, filepath.Join(root, "greeting.txt"), "howdy")
	if line := out.next(t, &from, "greeting.txt"); !strings.Contains(line, "(not hot: greeting.txt changed (embedded by package example.com/fake)") {
		t.Errorf("an edit of an embedded file: %s\nwant a baseline step for it", line)
	}
}

// TestAttackBDevReadWhileSaved: files saved again between the scan that
// saw them settled and their read (an editor's in-place write, truncated
// then filled; git switching files; vim renaming the file away and
// writing a new one) are not acted on half written or missing: the
// round waits for them to settle again.
func TestAttackBDevReadWhileSaved(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "main.go"), devFakeSrc)
	out := &devOutput{more: make(chan struct{}, 1)}
	l := &devLoop{o: devOptions{wait: time.Second}, out: newDevOut(out), root: root, modPath: "example.com/fake", pkgRel: ".",
		scripts: map[string][]byte{}, files: map[string]string{}, srv: &devServer{pgid: syscall.Getpgrp()}}
	l.seen = l.scan()
	l.base = l.read(l.seen)
	l.cur = l.base
	for _, tt := range []struct {
		name  string
		write func()
	}{
		{"truncated, then written", func() {
			writeFile(t, filepath.Join(root, "main.go"), "")
		}},
		{"renamed away", func() {
			if err := os.Rename(filepath.Join(root, "main.go"), filepath.Join(root, "main.go~")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		tt.write()
		states := l.scan() // the scans saw this settled
		writeFile(t, filepath.Join(root, "main.go"), strings.Replace(devFakeSrc, `return "one"`, `return "two"`, 1))
		os.Remove(filepath.Join(root, "main.go~"))
		if l.change(context.Background(), states) {
			t.Errorf("%s: the round acted on files saved again since the scan: %q", tt.name, out.String())
		}
		if got := out.String(); got != "" {
			t.Errorf("%s: %q", tt.name, got)
		}
	}
}

// TestAttackBDevScriptPositions: a script's positions are the module
// file's, as the interpreter reports them (it reads line directives as
// go/parser does): a type error or a panic in a hot edit's body named
// the script's temporary file, which the user never opened and which is
// gone after Ctrl-C. The file's name is absolute in the script (a
// relative one is taken relative to the script's directory); the status
// lines make it module-relative.
func TestAttackBDevScriptPositions(t *testing.T) {
	body := "s := strings.ToUpper(name)\n\treturn fmt.Sprint(s, BulkQty, undefinedThing)"
	src := strings.Replace(devBase, `return "hello, " + name`, body, 1)
	f, err := parseSrc("shop/shop.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	of, _ := parseSrc("shop/shop.go", []byte(devBase))
	edits, reason := compareFile(of, f)
	if reason != "" || len(edits) != 1 {
		t.Fatalf("edits %v, reason %q", edits, reason)
	}
	pkg := pkgInfo{name: "shop", path: "example.com/m/shop", names: map[string]bool{}, dir: "/m/shop"}
	collectNames(f.file, pkg.names)
	got, why := script(edits[0], pkg)
	if why != "" {
		t.Fatalf("no script: %s", why)
	}
	fset := token.NewFileSet()
	sf, err := parser.ParseFile(fset, "/tmp/patches/dev-example_Greet-1.go", got, parser.ParseComments)
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	// want is where the n-th s (from 1) is in the module's file.
	want := func(s string, n int) string {
		off := -1
		for range n {
			off += 1 + strings.Index(src[off+1:], s)
		}
		line := strings.Count(src[:off], "\n") + 1
		return fmt.Sprintf("/m/shop/shop.go:%d:%d", line, off-strings.LastIndex(src[:off], "\n"))
	}
	seen := map[string]string{}
	ast.Inspect(sf, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			if _, ok := seen[n.Name]; !ok {
				seen[n.Name] = fset.Position(n.Pos()).String()
			}
		case *ast.ImportSpec:
			seen[n.Path.Value] = fset.Position(n.Pos()).String()
		case *ast.FuncDecl:
			seen["func"] = fset.Position(n.Pos()).String()
		}
		return true
	})
	for name, at := range map[string]string{
		"undefinedThing": want("undefinedThing", 1),
		"BulkQty":        want("BulkQty", 3), // a comment, the declaration, the use
		"ToUpper":        want("ToUpper", 1),
		`"strings"`:      want(`"strings"`, 1),
		"func":           want("func Greet", 1),
	} {
		if seen[name] != at {
			t.Errorf("%s is at %s in the script, want %s (the module's file)\n%s", name, seen[name], at, got)
		}
	}
}

// TestAttackBDevNotSlotWhy: an edit of a function whose doc comment
// means the slot directive but is not read as one (on a method; written
// "// hotpatch:slot", as a comment) is a baseline step that says why,
// rather than a bare "func X changed" the user cannot tell from a bug.
func TestAttackBDevNotSlotWhy(t *testing.T) {
	for _, tt := range []struct{ name, decl, want string }{
		{"method", "//hotpatch:slot shop.Inc\nfunc (c *Counter) Inc() int {\n\treturn c.N\n}", "func (Counter).Inc changed; a method's body is not hot"},
		{"space after //", "// hotpatch:slot shop.Inc\nfunc Inc(c *Counter) int {\n\treturn c.N\n}", `func Inc changed; "// hotpatch:slot shop.Inc" is not the directive`},
		{"plain comment", "// Inc increments.\nfunc Inc(c *Counter) int {\n\treturn c.N\n}", "func Inc changed"},
	} {
		src := "package shop\n\n// Counter counts.\ntype Counter struct{ N int }\n\n" + tt.decl + "\n"
		of, err := parseSrc("shop/shop.go", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		nf, _ := parseSrc("shop/shop.go", []byte(strings.Replace(src, "return c.N", "return c.N + 1", 1)))
		_, reason := compareFile(of, nf)
		if !strings.Contains(reason, tt.want) || tt.name == "plain comment" && strings.Contains(reason, ";") {
			t.Errorf("%s: %q, want it to say %q", tt.name, reason, tt.want)
		}
	}
}

// TestAttackBDevSaveTime: the time a line gives is from the save to the
// new code serving, also for a file whose mtime is not its save's (cp -p,
// rsync -t, an archive extracted, a clock skew): such an edit said "hot
// (script) in 2h0m0.3s".
func TestAttackBDevSaveTime(t *testing.T) {
	dir := devFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "1m", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	out.next(t, &from, "started")
	for _, mtime := range []time.Time{time.Now().Add(-2 * time.Hour), time.Now().Add(time.Hour)} {
		saved := time.Now()
		file := filepath.Join(dir, "main.go")
		writeFile(t, file, strings.Replace(devFakeSrc, `return "one"`, fmt.Sprintf("return %q", mtime.String()), 1))
		if err := os.Chtimes(file, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		line := out.next(t, &from, "main.go:")
		m := regexp.MustCompile(`hot \(script\) in (\S+)$`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s\nwant hot (script)", line)
		}
		took, err := time.ParseDuration(m[1])
		if err != nil || took < 0 || took > time.Since(saved) {
			t.Errorf("with an mtime of %s: %s; want the time since the save (at most %s)", mtime.Format(time.TimeOnly), line, time.Since(saved))
		}
	}
}

// TestAttackBDevNoSuchSlot: a slot body whose directive names a slot the
// server did not register (a typo in the name) is not built as a native
// patch, which the server would refuse the same way after a build for
// nothing, at every save: the line says to check the name.
func TestAttackBDevNoSuchSlot(t *testing.T) {
	dir := devFake(t)
	src := strings.Replace(devFakeSrc, `fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)`,
		`if filepath.Ext(p) == ".go" {
					fmt.Printf("level=WARN msg=\"hotswap: rejected\" source=%s err=\"load: x.go:1:1: hotswap: no such slot: fake.Answer (func Answer)\"\n", p)
				} else {
					fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)
				}`, 1)
	if src == devFakeSrc {
		t.Fatal("the fake server's applied line moved")
	}
	writeFile(t, filepath.Join(dir, "main.go"), src)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "1m", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	out.next(t, &from, "started")
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(src, `return "one"`, `return "two"`, 1))
	line := out.next(t, &from, "main.go:")
	if !strings.Contains(line, "the server registers no slot fake.Answer; check the name") || strings.Contains(line, "native") {
		t.Errorf("a body edit of a slot the server does not register: %s\nwant no native patch, and the name to check", line)
	}
}

// TestAttackBDevRolledBack: a hot edit the server rolls back on its own
// (its probation failed: the new body panics) is forgotten, and the line
// says so: the baseline's body serves again. Kept, the body put back as
// the baseline's waited --wait for a revert the server never logs, then
// took a baseline step.
func TestAttackBDevRolledBack(t *testing.T) {
	dir := devFake(t)
	src := strings.Replace(devFakeSrc, `fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)`,
		`fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)
				fmt.Printf("level=WARN msg=\"hotswap: rolled-back\" source=%s err=\"hotswap: patch failed its probation: 3 failures in 3 calls\"\n", p)`, 1)
	if src == devFakeSrc {
		t.Fatal("the fake server's applied line moved")
	}
	writeFile(t, filepath.Join(dir, "main.go"), src)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "5s", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	out.next(t, &from, "started")
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(src, `return "one"`, `panic("two")`, 1))
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "hot (script)") {
		t.Fatalf("%s\nwant hot (script)", line)
	}
	if line := out.next(t, &from, "slot fake.Answer:"); !strings.Contains(line, "rolled back its hot edit (hotswap: patch failed its probation") {
		t.Errorf("%s\nwant the rollback said", line)
	}
	writeFile(t, filepath.Join(dir, "main.go"), src)
	if line := out.next(t, &from, "main.go:"); strings.Contains(line, "baseline step") {
		t.Errorf("the body put back after a rollback: %s\nwant no baseline step: the baseline's body serves", line)
	}
}

// TestAttackBDevUnlinkedPackage: an edit in a package of the module that
// the server does not link (another command, a tool) is not the server's
// code: it restarted the server (a baseline step, its state lost) for a
// new file or a changed func there.
func TestAttackBDevUnlinkedPackage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(bin, []byte("not an executable, only a record"), 0o755); err != nil {
		t.Fatal(err)
	}
	hash := "sha256:" + strings.Repeat("0", 64)
	if err := manifest.WriteSources(bin, fingerprint.Sources{"example.com/m": hash, "example.com/m/shop": hash}); err != nil {
		t.Fatal(err)
	}
	const cli = "package main\n\nfunc main() { println(\"cli\") }\n"
	for _, tt := range []struct {
		name string
		edit func(now map[string][]byte)
		want string // the reason; "" for no step
	}{
		{"edited", func(now map[string][]byte) {
			now["cmd/cli/main.go"] = []byte(strings.Replace(cli, `"cli"`, `"cli2"`, 1))
		}, ""},
		{"new file", func(now map[string][]byte) { now["cmd/cli/more.go"] = []byte("package main\n") }, ""},
		{"removed", func(now map[string][]byte) { delete(now, "cmd/cli/main.go") }, ""},
		{"linked package edited", func(now map[string][]byte) { now["shop/more.go"] = []byte("package shop\n\nfunc more() {}\n") }, "new file"},
	} {
		l := &devLoop{modPath: "example.com/m", baseBin: bin, base: map[string][]byte{
			"go.mod":          []byte("module example.com/m\n"),
			"shop/shop.go":    []byte(devBase),
			"cmd/cli/main.go": []byte(cli),
		}}
		l.cur = l.base
		now := maps.Clone(l.base)
		tt.edit(now)
		edits, reason, perr := l.decide(now)
		if perr != nil || len(edits) != 0 || !strings.Contains(reason, tt.want) || tt.want == "" && reason != "" {
			t.Errorf("%s: %d edits, reason %q, %v; want the reason %q", tt.name, len(edits), reason, perr, tt.want)
		}
	}
	// A native patch may link a package the baseline does not: while one
	// that imports it serves, an edit of that package takes the step.
	l := &devLoop{modPath: "example.com/m", baseBin: bin, base: map[string][]byte{
		"go.mod":          []byte("module example.com/m\n"),
		"shop/shop.go":    []byte(devBase),
		"tools/t/t.go":    []byte("package t\n\nfunc T() int { return 1 }\n"),
		"cmd/cli/main.go": []byte(cli),
	}, kinds: map[string]string{"example.Greet": kindNative}, scripts: map[string][]byte{
		"example.Greet": []byte("package patch\n\nimport \"example.com/m/tools/t\"\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return name + string(rune(t.T())) }\n"),
	}}
	l.cur = l.base
	now := maps.Clone(l.base)
	now["tools/t/t.go"] = []byte("package t\n\nfunc T() int { return 2 }\n")
	if _, reason, _ := l.decide(now); !strings.Contains(reason, "tools/t/t.go: func T changed") {
		t.Errorf("an edit of a package a serving native patch links: reason %q, want a baseline step for it", reason)
	}
}

// TestAttackBDevStopHurried: a server that does not stop at SIGTERM (it
// drains a request that never ends: a hot edit's endless loop) is waited
// for with a line that says so, and Ctrl-C again kills it at once; the
// second Ctrl-C was ignored, and the wait was 15 s of silence.
func TestAttackBDevStopHurried(t *testing.T) {
	dir := devFake(t)
	src := strings.Replace(devFakeSrc, "signal.Notify(c, syscall.SIGHUP)", "signal.Notify(c, syscall.SIGHUP)\n\tsignal.Ignore(syscall.SIGTERM)", 1)
	if src == devFakeSrc {
		t.Fatal("the fake server's signal set-up moved")
	}
	writeFile(t, filepath.Join(dir, "main.go"), src)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	line := out.next(t, &from, "started")
	pid, err := strconv.Atoi(regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(line)[1])
	if err != nil {
		t.Fatal(err)
	}
	out.next(t, &from, "  | up") // SIGTERM ignored from now on
	cancel()                     // Ctrl-C
	out.next(t, &from, "waiting for the server to stop")
	// Ctrl-C again: the command's handler is set while it waits.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-done
	done <- 0 // for the deferred wait
	if got := out.String(); !strings.Contains(got, "killed") || !strings.Contains(got, "Ctrl-C came again") {
		t.Errorf("output %q\nwant the server killed at the second Ctrl-C", got)
	}
	if left := groupPIDs(pid); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// TestAttackBDevServerLongLine: a line of the server's output longer than
// the reader's buffer (a large value logged) is cut, not the end of the
// output: every later line was dropped, among them the "hotswap:
// applied" each hot edit waits for (--wait, then a baseline step, at
// every save, for the life of the run).
func TestAttackBDevServerLongLine(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	in := "first\n" + long + "\nlevel=INFO msg=\"hotswap: applied\" source=/p/dev-x-1.go\nlast"
	var got []string
	serverLines(strings.NewReader(in), func(line string) { got = append(got, line) })
	if len(got) != 4 || got[0] != "first" || got[2] != `level=INFO msg="hotswap: applied" source=/p/dev-x-1.go` || got[3] != "last" {
		t.Fatalf("%d lines: %.80q", len(got), got)
	}
	if !strings.HasPrefix(got[1], "xxx") || len(got[1]) >= len(long) || !strings.Contains(got[1], "cut") {
		t.Errorf("the long line: %d bytes, ending %q; want it cut, and said so", len(got[1]), got[1][max(0, len(got[1])-40):])
	}
}

// TestAttackBDevSilentServer: a server that does not log its manager's
// events (hotpatch.Options.Logger left nil: they are discarded) never
// says a patch was applied; the line says what to give it, rather than
// only that the patch was not applied in time.
func TestAttackBDevSilentServer(t *testing.T) {
	dir := devFake(t)
	src := strings.Replace(devFakeSrc, `fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)`, `_ = p`, 1)
	if src == devFakeSrc {
		t.Fatal("the fake server's applied line moved")
	}
	writeFile(t, filepath.Join(dir, "main.go"), src)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "1s", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	out.next(t, &from, "started")
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(src, `return "one"`, `return "two"`, 1))
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "never logged its manager's events") || !strings.Contains(line, "hotpatch.Options.Logger") {
		t.Errorf("%s\nwant the logger named", line)
	}
}

// TestAttackBDevBadDurations: a --poll or --wait of zero or less, or a
// negative --debounce, is refused before anything is built: --poll 0
// panicked (a ticker of no interval) once the server was started.
func TestAttackBDevBadDurations(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--poll", "0"}, {"--poll", "-1s"}, {"--wait", "0"}, {"--debounce", "-1ms"}} {
		var out strings.Builder
		if code := run(context.Background(), append(append([]string{"dev"}, args...), dir), &out, &out); code != 2 || !strings.Contains(out.String(), args[0]+" ") {
			t.Errorf("%q: exit %d, %q; want 2 and the flag named", args, code, out.String())
		}
	}
}
