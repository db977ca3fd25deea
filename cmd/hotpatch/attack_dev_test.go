//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
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
