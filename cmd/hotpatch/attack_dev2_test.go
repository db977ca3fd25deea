//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// devAttack2Base is devNativeBase with what real packages hold: a cgo
// preamble, imports whose package name is not their path's last element
// as written (go-isatty is package isatty, go.uuid package uuid), and
// blank package-level vars (var _ I = (*T)(nil)).
var devAttack2Base = strings.Replace(devNativeBase, "import (",
	"// int one(void) { return 1; }\nimport \"C\"\n\nimport (\n\t\"github.com/mattn/go-isatty\"\n\t\"github.com/satori/go.uuid\"", 1) +
	"\nvar _ = helper\n\nvar _ = isatty.IsTerminal\n\nvar _ = uuid.NewV4\n"

// TestAttackDev2PatchSource: bodies that compile in the package must get
// a script or native source that compiles too, or a reason (which takes
// the baseline step); a source that does not compile is reported as the
// user's compile error, and the edit is never delivered.
func TestAttackDev2PatchSource(t *testing.T) {
	for _, tt := range []struct {
		name, body   string
		script       []string // the script has these; nil: no script, scriptWhy says why
		scriptWhy    string
		native       []string
		nativeReason string
	}{
		// A blank identifier names nothing: the package's "var _ = ..."
		// lines must not make "_ = x" a use of an unexported name.
		{name: "blank assign, exported", body: "_ = BulkQty\n\treturn name",
			script: []string{"_ = shop.BulkQty"}, native: []string{"_ = shop.BulkQty"}},
		{name: "blank assign, unexported", body: "_ = hits\n\treturn name",
			scriptWhy: "uses hits", native: []string{"_ = (*shop.HotpatchExportPtr_hits)"}},
		// goimports writes go-isatty unnamed: its package is isatty.
		{name: "go- prefixed import path", body: "return fmt.Sprint(isatty.IsTerminal(0), hits)",
			scriptWhy: "uses hits", native: []string{`"github.com/mattn/go-isatty"`, "isatty.IsTerminal(0)"}},
		{name: "go- prefixed import path, script", body: "return fmt.Sprint(isatty.IsTerminal(0))",
			script: []string{`"github.com/mattn/go-isatty"`}, native: []string{`"github.com/mattn/go-isatty"`}},
		// A name the tool cannot tie to an import: refused, not dropped.
		{name: "import name not its path's", body: "return fmt.Sprint(uuid.NewV4(), hits)",
			scriptWhy: "uuid", nativeReason: "uuid"},
		// A key spelled like a local may still be a field: of an
		// unexported one, a patch cannot set it. Refused, not left to
		// fail as the user's compile error.
		{name: "local named like an unexported field", body: "n := hits\n\treturn fmt.Sprint(tally{n: n})",
			scriptWhy: "uses hits", nativeReason: "n"},
		{name: "local named like an unexported field, elided type", body: "n := hits\n\treturn fmt.Sprint([]tally{{n: n}})",
			scriptWhy: "uses hits", nativeReason: "n"},
		// The keys of a map literal are expressions: qualified.
		{name: "map literal keys", body: "return fmt.Sprint(map[int]string{BulkQty: name, hits: name}, [...]int{BulkQty: 1})",
			scriptWhy: "uses hits", native: []string{"map[int]string{shop.BulkQty", "(*shop.HotpatchExportPtr_hits)", "[...]int{shop.BulkQty"}},
		// C.x needs the file's preamble: a patch cannot have it.
		{name: "cgo name", body: "return fmt.Sprint(C.one(), hits)",
			scriptWhy: "C.one", nativeReason: "C.one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(devAttack2Base, `return "hello, " + name`, tt.body, 1)
			f, err := parseSrc("shop/shop.go", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			of, _ := parseSrc("shop/shop.go", []byte(devAttack2Base))
			edits, reason := compareFile(of, f)
			if reason != "" || len(edits) != 1 {
				t.Fatalf("edits %v, reason %q", edits, reason)
			}
			pkg := pkgInfo{name: "shop", path: "example.com/m/shop", names: map[string]bool{}}
			collectNames(f.file, pkg.names)
			shim := buildShims(map[string][]byte{"shop/shop.go": []byte(devAttack2Base)}, func(string) bool { return false })["shop"]
			s, swhy := script(edits[0], pkg)
			s = withoutLines(s)
			switch {
			case tt.script == nil && (swhy == "" || !strings.Contains(swhy, tt.scriptWhy) || !strings.Contains(swhy, "shop/shop.go:")):
				t.Errorf("script: %q\n%s\nwant a reason with the position that says %q", swhy, s, tt.scriptWhy)
			case tt.script != nil && swhy != "":
				t.Errorf("no script: %s", swhy)
			}
			for _, w := range tt.script {
				if !strings.Contains(string(s), w) {
					t.Errorf("script lacks %q:\n%s", w, s)
				}
			}
			got, why := nativeSource(edits[0], pkg, shim, "/m/shop/shop.go")
			switch {
			case tt.nativeReason != "" && (!strings.Contains(why, tt.nativeReason) || !strings.Contains(why, "shop/shop.go:")):
				t.Errorf("native: reason %q\n%s\nwant one with the position that says %q", why, got, tt.nativeReason)
			case tt.nativeReason == "" && why != "":
				t.Errorf("no native source: %s", why)
			}
			for _, w := range tt.native {
				if !strings.Contains(string(got), w) {
					t.Errorf("native source lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestAttackDev2GoflagsTags: with GOFLAGS=-tags=dev (set in the
// environment or by go env -w), the baseline is built with the tag, so
// the decision and the export shims must see the files as that build
// does: a //go:build !dev file is not the server's code (its unexported
// names must not be in the shim, or the baseline does not even build),
// and a //go:build dev file is (an edit of a slot body there is hot, not
// "no change to the code").
func TestAttackDev2GoflagsTags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/fake\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(
		strings.Replace(devFakeSrc, "import (", "import (\n\t\"example.com/fake/tagged\"", 1),
		`fmt.Println("up", helper(), Answer())`, `fmt.Println("up", helper(), Answer(), tagged.Mode())`, 1))
	const dev = "//go:build dev\n\npackage tagged\n\nfunc devOnly() string { return \"dev\" }\n\n// Mode backs a slot.\n//\n//hotpatch:slot tagged.Mode\nfunc Mode() string {\n\treturn devOnly()\n}\n"
	if err := os.MkdirAll(filepath.Join(dir, "tagged"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tagged", "dev.go"), dev)
	writeFile(t, filepath.Join(dir, "tagged", "nodev.go"), "//go:build !dev\n\npackage tagged\n\nfunc prodOnly() string { return \"prod\" }\n\n// Mode backs a slot.\n//\n//hotpatch:slot tagged.Mode\nfunc Mode() string {\n\treturn prodOnly()\n}\n")
	t.Setenv("GOFLAGS", "-tags=dev")
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "10s", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	if line := out.next(t, &from, "hotpatch dev:"); !strings.Contains(line, "started") {
		t.Fatalf("with GOFLAGS=-tags=dev: %s\nwant the server started", line)
	}
	writeFile(t, filepath.Join(dir, "tagged", "dev.go"), strings.Replace(dev, "return devOnly()", `return "edited"`, 1))
	if line := out.next(t, &from, "dev.go:"); !strings.Contains(line, "hot (script)") {
		t.Errorf("an edit of a slot body in the file the tag builds: %s\nwant hot (script)", line)
	}
}

// TestAttackDev2SaveDuringBuild: a file saved while a build runs (an
// editor's save, gofmt on save) must not get into a binary built for the
// files as read before it: the loop records that snapshot as the running
// baseline's source, compares the next saves with it, and builds the
// native patches against it. The go command here saves other.go (a file
// the snapshot holds unchanged) as the build starts.
func TestAttackDev2SaveDuringBuild(t *testing.T) {
	root, tmp := devFake(t), t.TempDir()
	other := "package main\n\nfunc otherValue() int { return 1 }\n"
	writeFile(t, filepath.Join(root, "other.go"), other)
	writeFile(t, filepath.Join(root, "main.go"), strings.Replace(devFakeSrc, `fmt.Println("up", helper(), Answer())`,
		`fmt.Println("up", helper(), Answer(), otherValue())`, 1))
	goCmd, err := goWithTmp(tmp)
	if err != nil {
		t.Fatal(err)
	}
	real, err := os.ReadFile(goCmd)
	if err != nil {
		t.Fatal(err)
	}
	// Save other.go as the build starts, then run the build.
	saved := strings.Replace(other, "return 1", "return 2", 1)
	hook := "if [ \"$1\" = build ]; then printf '%s' '" + saved + "' > '" + filepath.Join(root, "other.go") + "'; fi\n"
	script := strings.Replace(string(real), "#!/bin/sh\n", "#!/bin/sh\n"+hook, 1)
	if err := os.WriteFile(goCmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	l := &devLoop{root: root, tmp: tmp, modPath: "example.com/fake", pkgRel: ".", goCmd: goCmd,
		link: filepath.Join(tmp, "bin", "fake")}
	snap := l.read(l.scan())
	if _, _, err := l.build(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "other.go")); string(b) != saved {
		t.Fatalf("the go command did not save other.go: %q", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.link, t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line != "up 1 one 1\n" {
		t.Errorf("the binary built for the snapshot says %q, want %q: a file saved during the build got into it", line, "up 1 one 1\n")
	}
}

// TestAttackDev2ShimMethodPrefix: a method named with the shims' prefix
// does not collide with a package-level name of the shim (methods live
// in their type's namespace): the package still gets its shims.
func TestAttackDev2ShimMethodPrefix(t *testing.T) {
	src := devNativeBase + "\nfunc (t *tally) HotpatchExportState() int { return t.n }\n"
	s := buildShims(map[string][]byte{"shop/shop.go": []byte(src)}, func(string) bool { return false })["shop"]
	if s == nil || s.why != "" || s.src == nil {
		t.Fatalf("a method named HotpatchExportState: shim %+v", s)
	}
	if r, why := s.reachOf("hits", "shop"); r != "(*shop.HotpatchExportPtr_hits)" {
		t.Errorf("reachOf(hits) = %q, %q", r, why)
	}
}

// TestAttackDev2BuildErrorPositions: a baseline build's compile errors
// name the module's files, module-relative, never the copies the build
// was given in its overlay (a temporary file the user cannot open).
func TestAttackDev2BuildErrorPositions(t *testing.T) {
	root, tmp := devFake(t), t.TempDir()
	writeFile(t, filepath.Join(root, "main.go"), strings.Replace(devFakeSrc, "func helper() int { return 1 }", "func helper() int { return undefinedQty }", 1))
	goCmd, err := goWithTmp(tmp)
	if err != nil {
		t.Fatal(err)
	}
	l := &devLoop{root: root, tmp: tmp, modPath: "example.com/fake", pkgRel: ".", goCmd: goCmd, link: filepath.Join(tmp, "bin", "fake")}
	_, _, err = l.build(context.Background(), l.read(l.scan()))
	if err == nil {
		t.Fatal("a type error built")
	}
	if !regexp.MustCompile(`(?m)^(\./)?main\.go:\d+:\d+: undefined: undefinedQty`).MatchString(err.Error()) || strings.Contains(err.Error(), "overlay-2/main.go") {
		t.Errorf("the build's error:\n%s\nwant main.go:LINE:COL: undefined: undefinedQty, module-relative", err)
	}
}

// TestAttackDev2UnexportedNotUserError: a native patch is another
// package: what it cannot reach (an unexported field or method through
// a name the tool took for the function's own, say a local struct type
// with a field bump beside greets.bump()) fails its build with
// "cannot refer to unexported ...", on code that compiles in its own
// package. That is the patch's limit, not the user's compile error: the
// edit must take the baseline step (which shows the real answer), not
// be reported as not compiling and never delivered.
func TestAttackDev2UnexportedNotUserError(t *testing.T) {
	base := devNativeBase + "\nvar greets tally\n"
	src := strings.Replace(base, `return "hello, " + name`, "type row struct{ bump int }\n\t_ = row{bump: 1}\n\treturn fmt.Sprint(greets.bump())", 1)
	f, _ := parseSrc("shop/shop.go", []byte(src))
	of, _ := parseSrc("shop/shop.go", []byte(base))
	edits, reason := compareFile(of, f)
	if reason != "" || len(edits) != 1 {
		t.Fatalf("edits %v, reason %q", edits, reason)
	}
	pkg := pkgInfo{name: "shop", path: "example.com/m/shop", names: map[string]bool{}}
	collectNames(f.file, pkg.names)
	shim := buildShims(map[string][]byte{"shop/shop.go": []byte(base)}, func(string) bool { return false })["shop"]
	if _, why := nativeSource(edits[0], pkg, shim, "/m/shop/shop.go"); why != "" {
		return // refused up front: a baseline step, fine
	}
	// The build's answer, as go build prints it.
	files := map[string][]byte{"shop/shop.go": []byte(src)}
	for _, out := range []string{
		"# example.com/m/.hotpatch/build/x\n./shop/shop.go:22:26: (*shop.HotpatchExportPtr_greets).bump undefined (cannot refer to unexported method bump)\n",
		"# example.com/m/.hotpatch/build/x\nshop/shop.go:20:6: cannot refer to unexported field n in struct literal of type shop.HotpatchExport_tally\n",
	} {
		if got := compileErrors(out, files); got != "" {
			t.Errorf("compileErrors(%q) = %q: taken for the user's error; want \"\" (the patch's limit: a baseline step)", out, got)
		}
	}
	// A real compile error names the user's identifiers, not the shims'.
	out := "./shop/shop.go:21:9: cannot use (*shop.HotpatchExportPtr_hits) (variable of type int) as string value in return statement\n" +
		"./shop/shop.go:22:9: cannot use shop.HotpatchExport_helper (value of type func(s string) string) as int value in assignment\n"
	want := "shop/shop.go:21:9: cannot use hits (variable of type int) as string value in return statement\n" +
		"shop/shop.go:22:9: cannot use helper (value of type func(s string) string) as int value in assignment"
	if got := compileErrors(out, files); got != want {
		t.Errorf("compileErrors:\n%s\nwant\n%s", got, want)
	}
}

// TestAttackDev2DuplicateSlot: a function copied with its doc comment
// (GreetFormal from Greet) carries the same //hotpatch:slot directive.
// The tool cannot tell which of the two the server registers: an edit of
// either body must not be delivered as the slot's patch (GreetFormal's
// body would replace Greet's in the server), but take the baseline step
// and say why.
func TestAttackDev2DuplicateSlot(t *testing.T) {
	formal := "\n// GreetFormal is Greet, formal.\n//\n//hotpatch:slot example.Greet\nfunc GreetFormal(name string) string {\n\treturn \"good day, \" + name\n}\n"
	l := &devLoop{modPath: "example.com/m", base: map[string][]byte{
		"go.mod":       []byte("module example.com/m\n"),
		"shop/shop.go": []byte(devBase),
		"shop/more.go": []byte("package shop\n" + formal),
	}}
	l.cur = l.base
	for _, tt := range []struct{ name, rel, src string }{
		{"the copy's body", "shop/more.go", "package shop\n" + strings.Replace(formal, "good day, ", "good evening, ", 1)},
		{"the original's body", "shop/shop.go", strings.Replace(devBase, `"hello, "`, `"hi, "`, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := map[string][]byte{}
			for k, v := range l.base {
				now[k] = v
			}
			now[tt.rel] = []byte(tt.src)
			edits, reason, perr := l.decide(now)
			if perr != nil {
				t.Fatal(perr)
			}
			if len(edits) != 0 || !strings.Contains(reason, "example.Greet") || !strings.Contains(reason, "shop/more.go:") || !strings.Contains(reason, "shop/shop.go:") {
				var got []string
				for _, e := range edits {
					got = append(got, e.slot+" from "+e.fn)
				}
				t.Errorf("edits %v, reason %q; want a baseline step that names the slot and both functions", got, reason)
			}
		})
	}
}

// devLibSrc is a package of the fake server's module with unexported
// state and a slot function: a body that uses them is hot (native).
const devLibSrc = `package lib

var hits = 40

func decorate(s string) string { return "<" + s + ">" }

// Mode backs a slot.
//
//hotpatch:slot lib.Mode
func Mode() string {
	return "one"
}
`

// devFakeLib writes the fake server's module, with package lib, into
// dir.
func devFakeLib(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/fake\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(
		strings.Replace(devFakeSrc, "import (", "import (\n\t\"example.com/fake/lib\"", 1),
		`fmt.Println("up", helper(), Answer())`, `fmt.Println("up", helper(), Answer(), lib.Mode())`, 1))
	writeFile(t, filepath.Join(dir, "lib", "lib.go"), devLibSrc)
}

// TestAttackDev2SymlinkedModule: the module reached through a symbolic
// link (a home directory linked to another disk, say), run from another
// directory: the go command finds its files by their real path, so an
// overlay keyed by the linked path is not applied, and the shims are
// missing from the baseline. A body that uses an unexported name must
// still be hot (native).
func TestAttackDev2SymlinkedModule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	for _, tt := range []struct {
		name string
		sub  string // the module under the link
	}{{"the module directory is a link", ""}, {"a parent directory is a link", "m"}} {
		t.Run(tt.name, func(t *testing.T) {
			real, link := t.TempDir(), filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			devFakeLib(t, filepath.Join(real, tt.sub))
			mod := filepath.Join(link, tt.sub)
			ctx, cancel := context.WithCancel(context.Background())
			out := &devOutput{more: make(chan struct{}, 1)}
			done := make(chan int, 1)
			go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "10s", mod}, out, out) }()
			defer func() {
				cancel()
				<-done
			}()
			from := 0
			if line := out.next(t, &from, "hotpatch dev:"); !strings.Contains(line, "started") {
				t.Fatalf("%s", line)
			}
			writeFile(t, filepath.Join(mod, "lib", "lib.go"), strings.Replace(devLibSrc, `return "one"`, "hits++\n\treturn decorate(\"x\")", 1))
			if line := out.next(t, &from, "lib.go:"); !strings.Contains(line, "hot (native)") {
				t.Errorf("a body that uses unexported names, in a module reached through a link: %s\nwant hot (native)", line)
			}
		})
	}
}

// TestAttackDev2ShimLinkname: a package may declare a function (or var)
// pulled from another package with //go:linkname, or implemented in
// assembly, and never use it outside its tests: it builds, as the linker
// resolves only what is referenced. The shim must not reference it, or
// the baseline fails to link ("invalid reference to runtime.gcinit")
// and hotpatch dev cannot start.
func TestAttackDev2ShimLinkname(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":  "module m\n\ngo 1.26\n",
		"main.go": "package main\n\nimport \"m/p\"\n\nfunc main() { println(p.Greet()) }\n",
		"p/p.go": "package p\n\nimport _ \"unsafe\"\n\n//go:linkname gcinit runtime.gcinit\nfunc gcinit()\n\n" +
			"func helper() string { return \"x\" }\n\n//hotpatch:slot p.Greet\nfunc Greet() string {\n\treturn helper()\n}\n",
	}
	snap := map[string][]byte{}
	for rel, s := range files {
		writeFile(t, filepath.Join(root, filepath.FromSlash(rel)), s)
		snap[rel] = []byte(s)
	}
	shims := buildShims(snap, func(string) bool { return false })
	s := shims["p"]
	if s == nil || s.src == nil {
		t.Fatalf("no shim: %+v", s)
	}
	if _, why := s.reachOf("gcinit", "p"); !strings.Contains(why, "p/p.go:6:6") {
		t.Errorf("reachOf(gcinit): %q, want why, with the position", why)
	}
	set, err := writeShims(root, t.TempDir(), shims)
	if err != nil {
		t.Fatal(err)
	}
	ov, _ := json.Marshal(map[string]any{"Replace": set.files})
	ovFile := filepath.Join(t.TempDir(), "overlay.json")
	writeFile(t, ovFile, string(ov))
	cmd := exec.Command("go", "build", "-overlay="+ovFile, "-o", os.DevNull, ".")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the package with its shim does not build: %v\n%s\n%s", err, out, s.src)
	}
}

// TestAttackDev2SameStatSave: two saves within the file system's
// timestamp granularity (a jiffy on Linux, seconds on some file systems)
// and of the same size leave the file's mtime and size as they were. When
// the loop read the first, the second must still be seen, or the old
// content serves with nothing said. The second save here is given the
// first's mtime, as a coarse clock would.
func TestAttackDev2SameStatSave(t *testing.T) {
	dir := devFake(t)
	main := filepath.Join(dir, "main.go")
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "10s", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	if line := out.next(t, &from, "hotpatch dev:"); !strings.Contains(line, "started") {
		t.Fatalf("%s", line)
	}
	writeFile(t, main, strings.Replace(devFakeSrc, `return "one"`, `return "two"`, 1))
	fi, err := os.Stat(main)
	if err != nil {
		t.Fatal(err)
	}
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "hot (script)") {
		t.Fatalf("the first save: %s", line)
	}
	writeFile(t, main, strings.Replace(devFakeSrc, `return "one"`, `return "six"`, 1))
	if err := os.Chtimes(main, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "hot (script)") {
		t.Errorf("the second save, of the same size and mtime: %s", line)
	}
}

// TestAttackDev2SymlinkedFile: a .go file of the module that is a
// symbolic link (a file shared between modules, say) is part of the
// package for the go command; the watcher must see it too: its names
// are the package's (a body that uses them compiles), and its edits are
// the server's code.
func TestAttackDev2SymlinkedFile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir, shared := t.TempDir(), filepath.Join(t.TempDir(), "extra.go")
	devFakeLib(t, dir)
	writeFile(t, shared, "package lib\n\nfunc extra() string { return \"extra\" }\n")
	if err := os.Symlink(shared, filepath.Join(dir, "lib", "extra.go")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "10s", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	if line := out.next(t, &from, "hotpatch dev:"); !strings.Contains(line, "started") {
		t.Fatalf("%s", line)
	}
	writeFile(t, filepath.Join(dir, "lib", "lib.go"), strings.Replace(devLibSrc, `return "one"`, "return extra()", 1))
	if line := out.next(t, &from, "lib.go:"); !strings.Contains(line, "hot (native)") {
		t.Errorf("a body that uses a name of the linked file: %s\nwant hot (native)", line)
	}
}
