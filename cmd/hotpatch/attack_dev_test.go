//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAttackDevBuildConstraints: a file the build leaves out (a
// //go:build ignore tool, a _windows.go variant) is not the server's
// code. An edit to a slot body there must not be applied to the running
// server, and adding such a file must not cost a baseline step.
func TestAttackDevBuildConstraints(t *testing.T) {
	const shop = "package shop\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string {\n\treturn \"hello, \" + name\n}\n"
	winOld := strings.Replace(shop, `"hello, "`, `"hello from windows, "`, 1)
	winNew := strings.Replace(shop, `"hello, "`, `"HELLO FROM WINDOWS, "`, 1)
	ignored := "//go:build ignore\n\npackage main\n\nfunc main() {}\n"
	l := &devLoop{modPath: "example.com/m", base: map[string][]byte{
		"go.mod":               []byte("module example.com/m\n"),
		"shop/shop_linux.go":   []byte(shop),
		"shop/shop_windows.go": []byte(winOld),
		"shop/extra.go":        []byte("//go:build ignore\n\npackage shop\n\nfunc Extra() {}\n"),
	}}
	l.cur = l.base
	for _, tt := range []struct {
		name string
		now  map[string][]byte
	}{
		{"edit of a slot body in a windows file", map[string][]byte{"shop/shop_windows.go": []byte(winNew)}},
		{"new //go:build ignore file", map[string][]byte{"gen.go": []byte(ignored)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := map[string][]byte{}
			for k, v := range l.base {
				now[k] = v
			}
			for k, v := range tt.now {
				now[k] = v
			}
			edits, reason, perr := l.decide(now)
			if len(edits) != 0 || reason != "" || perr != nil {
				var slots []string
				for _, e := range edits {
					slots = append(slots, e.slot+" from "+e.file.rel)
				}
				t.Errorf("a file outside the build: edits %v, reason %q, errors %v; want a no-op", slots, reason, perr)
			}
		})
	}
	// A file that comes into the build is new code: a baseline step.
	now := map[string][]byte{}
	for k, v := range l.base {
		now[k] = v
	}
	now["shop/extra.go"] = []byte("package shop\n\nfunc Extra() {}\n")
	if _, reason, _ := l.decide(now); reason == "" {
		t.Errorf("a file that joins the build: no baseline step")
	}
}

// TestAttackDevSIGTERM: SIGTERM to hotpatch dev (a process manager, a
// terminal closed, kill PID) stops the server and removes the temporary
// directory, as Ctrl-C does: the server runs in a process group of its
// own, so nothing else would stop it.
func TestAttackDevSIGTERM(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/sleeper\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"time\"\n)\n\nfunc main() {\n\tfmt.Println(\"up\", len(os.Args))\n\tfor {\n\t\ttime.Sleep(time.Hour)\n\t}\n}\n")
	// The test process keeps SIGTERM from killing it: without the fix the
	// loop goes on and the test fails on the hang detector.
	mine := make(chan os.Signal, 1)
	signal.Notify(mine, syscall.SIGTERM)
	defer signal.Stop(mine)

	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), []string{"dev", dir}, out, out) }()
	from := 0
	line := out.next(t, &from, "started")
	m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no pid in %q", line)
	}
	pid, _ := strconv.Atoi(m[1])
	cmdline, _ := os.ReadFile("/proc/" + m[1] + "/cmdline")
	tmp := regexp.MustCompile(`(/\S*hotpatch-dev-\d+)/`).FindSubmatch(bytes.ReplaceAll(cmdline, []byte{0}, []byte(" ")))
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("dev exited %d; output:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		t.Fatalf("hotpatch dev went on after SIGTERM; output:\n%s", out.String())
	}
	if _, err := os.Stat("/proc/" + m[1]); err == nil {
		b, _ := os.ReadFile("/proc/" + m[1] + "/stat")
		if !bytes.Contains(b, []byte(") Z")) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Errorf("the server (pid %d) outlived hotpatch dev", pid)
		}
	}
	if tmp == nil {
		t.Errorf("no temporary directory in the server's command line %q", cmdline)
	} else {
		if _, err := os.Stat(string(tmp[1])); err == nil {
			t.Errorf("%s left behind", tmp[1])
		}
	}
}

// devFakeSrc is a main package that stands in for a hotpatch server in
// the loop's tests that need no real one: it refuses every restart, as a
// baseline step whose new binary crashes on start is refused, says it
// applied each new file of its patch directory (its last argument), and
// has a slot whose body uses nothing of its package.
const devFakeSrc = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func watch(dir string) {
	seen := map[string]bool{}
	for {
		ents, _ := os.ReadDir(dir)
		now := map[string]bool{}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			now[p] = true
			if !seen[p] {
				fmt.Printf("level=INFO msg=\"hotswap: applied\" source=%s\n", p)
			}
		}
		seen = now
		time.Sleep(10 * time.Millisecond)
	}
}

func helper() int { return 1 }

// Answer backs a slot.
//
//hotpatch:slot fake.Answer
func Answer() string {
	return "one"
}

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	fmt.Println("up", helper(), Answer())
	go watch(os.Args[len(os.Args)-1])
	for range c {
		fmt.Println("level=ERROR msg=\"baseline: restart failed; still serving\" err=\"the new process exited: panic\"")
	}
}
`

// devFake writes the fake server's module into a new directory.
func devFake(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/fake\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(dir, "main.go"), devFakeSrc)
	return dir
}

// TestAttackDevFailedStep: a baseline step the server refuses (the new
// binary crashed on start) leaves the old baseline serving, so the next
// save is compared with that one: an edit of a slot body alone is not
// hot while the refused non-slot change is still unserved.
func TestAttackDevFailedStep(t *testing.T) {
	dir := devFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", "--wait", "3s", dir}, out, out) }()
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

	hot := strings.Replace(devFakeSrc, `return "one"`, `return "hot"`, 1)
	writeFile(t, filepath.Join(dir, "main.go"), hot)
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "hot (script)") {
		t.Fatalf("a slot body edit: %s", line)
	}
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(hot, "return 1", "return 2", 1))
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "baseline step failed") {
		t.Fatalf("a refused restart: %s", line)
	}
	// The old process serves on, and so does its hot edit.
	if ents, _ := os.ReadDir(patchDir); len(ents) != 1 {
		t.Errorf("after a refused restart, the patch directory holds %d scripts, want the hot edit's", len(ents))
	}
	src := strings.Replace(devFakeSrc, "return 1", "return 2", 1)
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(src, `return "one"`, `return "two"`, 1))
	if line := out.next(t, &from, "main.go:"); !strings.Contains(line, "func helper changed") {
		t.Errorf("after a refused step, a slot body edit: %s\nwant the step again, for func helper", line)
	}
}

// TestAttackDevInterruptedBuild: Ctrl-C while the first build runs is
// not a failed build: nothing is reported as an error.
func TestAttackDevInterruptedBuild(t *testing.T) {
	dir := devFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := &devOutput{more: make(chan struct{}, 1)}
	if code := run(ctx, []string{"dev", dir}, out, out); code != 0 || out.String() != "" {
		t.Errorf("Ctrl-C during the build: exit %d, output %q; want 0 and nothing", code, out.String())
	}
}

// TestAttackDevCommentOnly: a save that changes only comments or layout
// is a no-op, and says so: not "hot", not "back to the baseline" (nothing
// was patched before it).
func TestAttackDevCommentOnly(t *testing.T) {
	root := t.TempDir()
	src := devFakeSrc
	writeFile(t, filepath.Join(root, "main.go"), src)
	out := &devOutput{more: make(chan struct{}, 1)}
	l := &devLoop{o: devOptions{wait: time.Second}, out: newDevOut(out), root: root, modPath: "example.com/fake", pkgRel: ".",
		scripts: map[string][]byte{}, files: map[string]string{}, srv: &devServer{pgid: syscall.Getpgrp()}}
	l.seen = l.scan()
	l.base = l.read(l.seen)
	l.cur = l.base
	writeFile(t, filepath.Join(root, "main.go"), strings.Replace(src, "// Answer backs a slot.", "// Answer backs a slot; a new comment.", 1))
	l.change(context.Background(), l.scan())
	if got := out.String(); !strings.Contains(got, "no change to the code") {
		t.Errorf("a comment-only save: %q", got)
	}
}

// procChildren lists the live children of pid with their command lines.
func procChildren(pid int) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp == pid {
			cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out[p] = string(bytes.ReplaceAll(cl, []byte{0}, []byte(" ")))
		}
	}
	return out
}

// TestAttackDevCtrlCMidBuild: Ctrl-C while go build runs leaves no
// process of the build and no work directory of the go command behind.
func TestAttackDevCtrlCMidBuild(t *testing.T) {
	dir := devFake(t)
	scope := scopeTmp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", dir}, out, out) }()
	work, tools := waitBuildTool(t, out, scope)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("hotpatch dev did not stop")
	}
	checkBuildGone(t, work, tools)
}

// scopeTmp points TMPDIR at a directory of the test's own, so that the
// hotpatch dev it runs makes its temporary directory there, and returns
// it: waitBuildTool then finds that dev's builds only, not one another
// test's dev left running a moment longer.
func scopeTmp(t *testing.T) string {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return tmp
}

// waitBuildTool waits for a tool that a go command building for hotpatch
// dev runs (the linker, at least), and returns the go command's work
// directory and the PIDs of the go command and its tools. Only go
// commands whose command line names scope (see scopeTmp) count.
func waitBuildTool(t *testing.T, out *devOutput, scope string) (work string, tools []int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for work == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no go build with a tool running seen; output:\n%s", out.String())
		}
		for p, cl := range procChildren(os.Getpid()) {
			if strings.Contains(cl, scope) && strings.Contains(cl, "hotpatch-dev-") && strings.Contains(cl, " build ") {
				for tp, tcl := range procChildren(p) {
					if m := regexp.MustCompile(`/\S*go-build\d+`).FindString(tcl); m != "" {
						work = m
						tools = append(tools, p, tp)
					}
				}
			}
		}
		runtime.Gosched()
	}
	return work, tools
}

// checkBuildGone checks that the processes of a build and its work
// directory are gone.
func checkBuildGone(t *testing.T, work string, tools []int) {
	t.Helper()
	for _, p := range tools {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err == nil && !bytes.Contains(b, []byte(") Z")) {
			t.Errorf("a process of the build is left: %s", b)
		}
	}
	if _, err := os.Stat(work); err == nil {
		os.RemoveAll(work)
		t.Errorf("the go command's work directory %s left behind", work)
	}
}

// TestAttackDevServerExits: a server that exits on start (a panic, a
// port in use) is reported when it exits, not at the next save, and the
// next good save builds and starts it again.
func TestAttackDevServerExits(t *testing.T) {
	dir := devFake(t)
	dying := strings.Replace(devFakeSrc, `	fmt.Println("up", helper(), Answer())`, `	fmt.Println("up", helper(), Answer())
	if helper() == 1 {
		fmt.Println("cannot listen: address in use")
		os.Exit(3)
	}`, 1)
	writeFile(t, filepath.Join(dir, "main.go"), dying)
	ctx, cancel := context.WithCancel(context.Background())
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", dir}, out, out) }()
	defer func() {
		cancel()
		<-done
	}()
	from := 0
	out.next(t, &from, "started")
	if line := out.next(t, &from, "not running"); !strings.Contains(line, "exited") {
		t.Errorf("the server's exit: %s", line)
	}
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(dying, "return 1", "return 2", 1))
	line := out.next(t, &from, "main.go:")
	m := regexp.MustCompile(`pid (\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("after a good save: %s", line)
	}
	if _, err := os.Stat("/proc/" + m[1]); err != nil {
		t.Errorf("pid %s is not running", m[1])
	}
}

// TestAttackDevCtrlCMidStep: Ctrl-C while a baseline step builds stops
// the build as on the first one, and the server with SIGTERM, as always:
// it is not taken for a process of the build.
func TestAttackDevCtrlCMidStep(t *testing.T) {
	dir := devFake(t)
	graceful := strings.Replace(devFakeSrc, "signal.Notify(c, syscall.SIGHUP)", `signal.Notify(c, syscall.SIGHUP)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		fmt.Println("graceful stop")
		os.Exit(0)
	}()`, 1)
	writeFile(t, filepath.Join(dir, "main.go"), graceful)
	scope := scopeTmp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &devOutput{more: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"dev", "--debounce", "30ms", dir}, out, out) }()
	from := 0
	out.next(t, &from, "started")
	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(graceful, "return 1", "return 2", 1))
	work, tools := waitBuildTool(t, out, scope)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("hotpatch dev did not stop")
	}
	checkBuildGone(t, work, tools)
	if !strings.Contains(out.String(), "graceful stop") {
		t.Errorf("the server was not stopped with SIGTERM; output:\n%s", out.String())
	}
}
