//go:build linux

package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// devStateGo is a file added to the copy's shop package: unexported
// state and helpers that a slot body may start to use, and an exported
// reader of the state that the server's own code calls (GET /visits).
const devStateGo = `package shop

// visits counts greetings; the server's own code reads it through Visits.
var visits = 40

// Visits is the number visits holds.
func Visits() int { return visits }

func decorate(s string) string { return "<" + s + ">" }

type tally struct{ n int }

func (t *tally) bump() int {
	t.n++
	return t.n
}

var greets tally
`

// startDevOn runs "hotpatch dev" on dir, the copy of the example, serving
// on a free address; it returns the output, the base URL, the patch
// directory and the server's first PID. The loop is stopped at the
// test's end, and checked to leave no process behind.
func startDevOn(t *testing.T, dir string) (out *devOutput, at *int, base, patchDir string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out = &devOutput{more: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--debounce", "50ms", dir, "--", "-addr", addr, "-debounce", "20ms"}, out, out)
	}()
	at = new(int)
	line := out.next(t, at, "started")
	m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		t.Fatalf("no pid in %q", line)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("hotpatch dev exited %d; output:\n%s", code, out)
			}
		case <-time.After(hang):
			t.Errorf("hotpatch dev did not stop; output:\n%s", out)
		}
	})
	cmdline, _ := os.ReadFile("/proc/" + m[1] + "/cmdline")
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	patchDir = args[len(args)-1]
	out.next(t, at, "  | msg=serving")
	return out, at, "http://" + addr, patchDir
}

// soFiles lists the native patches in dir.
func soFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.so"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDevNative runs "hotpatch dev" on a copy of the example server
// whose shop package has unexported state and helpers, through the edits
// only a native patch can deliver hot: a body that uses an unexported
// helper and var of its package (through the export shims; the server's
// variable is shared, not copied), a body the interpreter refuses, a
// type error, the revert to the baseline body, and a body that reaches
// an unexported method through a selector (a baseline step, and why).
func TestDevNative(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := copyExample(t, t.TempDir())
	writeFile(t, filepath.Join(dir, "shop", "state.go"), devStateGo)
	edit(t, filepath.Join(dir, "server.go"), "mux.HandleFunc(\"GET /count\", handleCount)\n",
		"mux.HandleFunc(\"GET /count\", handleCount)\n\tmux.HandleFunc(\"GET /visits\", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, shop.Visits()) })\n")
	prep := exec.Command("go", "build", "-mod=mod", "-o", os.DevNull, ".")
	prep.Dir, prep.Env = dir, append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	if out, err := prep.CombinedOutput(); err != nil {
		t.Fatalf("building the copy: %v\n%s", err, out)
	}
	shopGo := filepath.Join(dir, "shop", "shop.go")
	orig, err := os.ReadFile(shopGo)
	if err != nil {
		t.Fatal(err)
	}
	const body = `return "hello, " + name`
	setBody := func(b string) { writeFile(t, shopGo, strings.Replace(string(orig), body, b, 1)) }
	out, at, base, patchDir := startDevOn(t, dir)
	n0, pid0 := count(t, base)
	greet := func(want string) {
		t.Helper()
		if got := devGet(t, base+"/greet?name=ann"); got != want {
			t.Errorf("greet: %q, want %q", got, want)
		}
	}
	samePID := func() {
		t.Helper()
		if _, pid := count(t, base); pid != pid0 {
			t.Errorf("pid %d, want %d: the server was restarted", pid, pid0)
		}
	}

	t.Run("unexported helper and var", func(t *testing.T) {
		setBody("visits++\n\treturn decorate(fmt.Sprintf(\"hello #%d, %s\", visits, name))")
		line := out.next(t, at, "shop/shop.go:")
		if !strings.Contains(line, "hot (native)") || !strings.Contains(line, ", unexported in package shop") {
			t.Fatalf("want hot (native), not a script for decorate; got %s", line)
		}
		// The server's variable: its initial value is seen, and the
		// server's own code (GET /visits) sees the patch's writes.
		greet("<hello #41, ann>")
		if got := devGet(t, base+"/visits"); got != "41" {
			t.Errorf("GET /visits: %s, want 41: the patch's var is not the server's", got)
		}
		if n, pid := count(t, base); pid != pid0 || n != n0+1 {
			t.Errorf("count: %d from pid %d, want %d from %d: the state was lost", n, pid, n0+1, pid0)
		}
		if so := soFiles(t, patchDir); len(so) != 1 {
			t.Errorf("patch directory: %v, want one .so", so)
		}
	})
	t.Run("a body the interpreter refuses", func(t *testing.T) {
		setBody("s := \"\"\n\tfor i := range 3 {\n\t\ts += fmt.Sprint(i)\n\t}\n\treturn s + \" \" + name")
		line := out.next(t, at, "shop/shop.go:")
		if !strings.Contains(line, "hot (native)") || !strings.Contains(line, "was refused") {
			t.Fatalf("want hot (native) after the script was refused; got %s", line)
		}
		greet("012 ann")
		samePID()
	})
	t.Run("type error", func(t *testing.T) {
		setBody("return decorate(undefinedThing) + name")
		line := out.next(t, at, "shop/shop.go:")
		if !strings.Contains(line, "does not compile") || !regexp.MustCompile(`\nshop/shop\.go:\d+:\d+: undefined: undefinedThing`).MatchString(line) {
			t.Fatalf("want the compiler's error at its module-relative position, got %s", line)
		}
		greet("012 ann") // the old code keeps serving
		samePID()
	})
	t.Run("recovery", func(t *testing.T) {
		setBody("return decorate(name)")
		if line := out.next(t, at, "shop/shop.go:"); !strings.Contains(line, "hot (native)") {
			t.Fatalf("want hot (native), got %s", line)
		}
		greet("<ann>")
		samePID()
	})
	const bump = "return fmt.Sprint(greets.bump(), \" \", name)"
	t.Run("unexported method", func(t *testing.T) {
		setBody(bump)
		line := out.next(t, at, "shop/shop.go:")
		if !strings.Contains(line, "baseline step in") || !regexp.MustCompile(`shop/shop\.go:\d+:\d+: \.bump is an unexported method or field`).MatchString(line) {
			t.Fatalf("want a baseline step, for .bump; got %s", line)
		}
		// The baseline's own readiness check greets too.
		if got := devGet(t, base+"/greet?name=ann"); !regexp.MustCompile(`^\d+ ann$`).MatchString(got) {
			t.Errorf("greet: %q, want the tally and ann", got)
		}
		if so := soFiles(t, patchDir); len(so) != 0 {
			t.Errorf("after the baseline step, the patch directory holds %v", so)
		}
	})
	t.Run("revert", func(t *testing.T) {
		_, pid1 := count(t, base)
		setBody("return decorate(name)")
		if line := out.next(t, at, "shop/shop.go:"); !strings.Contains(line, "hot (native)") {
			t.Fatalf("want hot (native), got %s", line)
		}
		greet("<ann>")
		setBody(bump) // the running baseline's body
		if line := out.next(t, at, "shop/shop.go:"); !strings.Contains(line, "back to the running baseline") {
			t.Fatalf("want back to the baseline, got %s", line)
		}
		if got := devGet(t, base+"/greet?name=ann"); !regexp.MustCompile(`^\d+ ann$`).MatchString(got) {
			t.Errorf("greet: %q, want the baseline's body", got)
		}
		if so := soFiles(t, patchDir); len(so) != 0 {
			t.Errorf("after the revert, the patch directory holds %v", so)
		}
		if _, pid := count(t, base); pid != pid1 {
			t.Errorf("pid %d, want %d", pid, pid1)
		}
	})
}

// TestDevNativeRefused: when the server refuses the script and then the
// native patch (its loader's memory cap reached, say), the edit takes the
// baseline step, and the line gives both refusals; the refused .so is
// not left in the patch directory.
func TestDevNativeRefused(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	const applied = `fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)`
	if !strings.Contains(devFakeSrc, applied) {
		t.Fatalf("the fake server has no %s", applied)
	}
	refusing := strings.Replace(devFakeSrc, applied, `if filepath.Ext(p) == ".so" {
					fmt.Printf("level=ERROR msg=\"hotswap: rejected\" source=%s err=\"native: memory cap of native patches reached; take the baseline step\"\n", p)
				} else {
					fmt.Printf("level=ERROR msg=\"hotswap: rejected\" source=%s err=\"the interpreter cannot run it\"\n", p)
				}`, 1)
	dir := devFake(t)
	writeFile(t, filepath.Join(dir, "main.go"), refusing)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "1m", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	line := out.next(t, &from, "started")
	pid := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(line)
	if pid == nil {
		t.Fatalf("no pid in %q", line)
	}
	cmdline, _ := os.ReadFile("/proc/" + pid[1] + "/cmdline")
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	patchDir := args[len(args)-1]

	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(refusing, `return "one"`, `return "hot"`, 1))
	line = out.next(t, &from, "main.go:")
	t.Log(line)
	for _, want := range []string{"baseline step", "the script for fake.Answer was refused (the interpreter cannot run it)",
		"the native patch for fake.Answer was refused (native: memory cap of native patches reached"} {
		if !strings.Contains(line, want) {
			t.Errorf("line lacks %q: %s", want, line)
		}
	}
	if so := soFiles(t, patchDir); len(so) != 0 {
		t.Errorf("refused native patches left in the patch directory: %v", so)
	}
}

// TestDevNativeCtrlC: Ctrl-C while a native patch builds stops the go
// command with its tools, and leaves neither its work directory nor its
// package directory in the module (.hotpatch/build/<id>).
func TestDevNativeCtrlC(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	const applied = `fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)`
	refusing := strings.Replace(devFakeSrc, applied, `fmt.Printf("level=ERROR msg=\"hotswap: rejected\" source=%s err=\"the interpreter cannot run it\"\n", p)`, 1)
	dir := devFake(t)
	writeFile(t, filepath.Join(dir, "main.go"), refusing)
	scope := scopeTmp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", dir}, out, out) }()
	from := 0
	out.next(t, &from, "started")
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(refusing, `return "one"`, `return "native"`, 1))
	work, tools := waitBuildTool(t, out, scope)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("hotpatch dev did not stop")
	}
	checkBuildGone(t, work, tools)
	if ents, _ := os.ReadDir(filepath.Join(dir, ".hotpatch", "build")); len(ents) != 0 {
		t.Errorf("a patch build's package directory is left in the module: %v", ents)
	}
}

// TestDevNativeFailedStep: a baseline step the server refuses puts the
// native patch of the last hot edit back (set aside, not rebuilt), so the
// old process serves on with it.
func TestDevNativeFailedStep(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	const applied = `fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)`
	nativeOnly := strings.Replace(devFakeSrc, applied, `if filepath.Ext(p) == ".so" {
					`+applied+`
				} else {
					fmt.Printf("level=ERROR msg=\"hotswap: rejected\" source=%s err=\"the interpreter cannot run it\"\n", p)
				}`, 1)
	dir := devFake(t)
	writeFile(t, filepath.Join(dir, "main.go"), nativeOnly)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "1m", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	line := out.next(t, &from, "started")
	pid := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(line)
	if pid == nil {
		t.Fatalf("no pid in %q", line)
	}
	cmdline, _ := os.ReadFile("/proc/" + pid[1] + "/cmdline")
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	patchDir := args[len(args)-1]

	hot := strings.Replace(nativeOnly, `return "one"`, `return "native"`, 1)
	writeFile(t, filepath.Join(dir, "main.go"), hot)
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "hot (native)") {
		t.Fatalf("a slot body edit, the script refused: %s", line)
	}
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(hot, "return 1", "return 2", 1))
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "baseline step failed") {
		t.Fatalf("a refused restart: %s", line)
	}
	if so := soFiles(t, patchDir); len(so) != 1 {
		t.Errorf("after a refused restart, the patch directory holds %v, want the hot edit's .so", so)
	}
}
