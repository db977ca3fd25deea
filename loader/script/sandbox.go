package script

import (
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/traefik/yaegi/interp"
)

// sandbox gives one interpreter its own copy of the process-wide state of
// the standard library that a script can reach, so that what a script
// does to it changes nothing outside its interpreter, and a refused or
// retired script leaves nothing behind (see [box]):
//
//   - every exported package variable (io.EOF, time.Local, flag.Usage,
//     runtime.MemProfileRate, os.Args, ...) is a private copy with the
//     value it had at load time: assigning to it changes the script's copy;
//   - fmt's printing goes to Options.Stdout, the standard logger (with
//     log.Default) to Options.Stderr, and log.Fatal* panic instead of
//     exiting;
//   - flag.CommandLine and every flag package func work on a flag set of
//     the script's own, and flag.ExitOnError is flag.PanicOnError;
//   - os.Stdin is empty (os.DevNull, closed with the box);
//   - os.Getenv, Setenv, Unsetenv, Clearenv, LookupEnv, ExpandEnv and
//     Environ work on an environment of its own, empty at first;
//   - net/http's DefaultServeMux, Handle and HandleFunc use a mux of its
//     own; DefaultClient, DefaultTransport, Get, Head, Post and PostForm a
//     client and transport of its own; net.DefaultResolver a resolver of
//     its own;
//   - time.Sleep also returns when the interpreter is stopped, which then
//     ends the code that called it, and a panic in a func handed to
//     time.AfterFunc is recovered and reported (see [goGuard]);
//   - every listener made through net.Listen*, net.File*, tls.Listen or
//     tls.NewListener, and every server started through
//     http.ListenAndServe* or http.Serve*, is closed when the script is
//     refused or retired.
//
// [DefaultDeny] refuses, by member, what cannot be copied (os.Exit,
// os.Chdir, signal handling, runtime settings, global registries). It
// replaces symbols in copies of e's tables, never in the shared standard
// library tables, and records the replacements in types so that yaegi
// still passes interpreted values with a String method to them as
// fmt.Stringer.
//
// This is isolation against accidents, not a security boundary: the script
// still shares the process, its files, its network and the methods of the
// values it can reach (os.Stdout.Close closes the server's stdout).
func sandbox(e interp.Exports, std map[string]bool, types map[reflect.Value][]reflect.Type, stdout, stderr io.Writer, b *box) {
	override := func(key string, set func(p map[string]reflect.Value, alias func(name string, orig any))) {
		syms, ok := e[key]
		if !ok {
			return
		}
		p := maps.Clone(syms)
		alias := func(name string, orig any) {
			if mt, ok := types[reflect.ValueOf(orig)]; ok {
				types[p[name]] = mt
			}
		}
		set(p, alias)
		e[key] = p
	}
	for key := range e {
		if !std[key] {
			continue
		}
		override(key, func(p map[string]reflect.Value, _ func(string, any)) {
			for name, v := range p {
				if v.CanAddr() { // a package variable, as yaegi extract exports it
					c := reflect.New(v.Type()).Elem()
					c.Set(v)
					p[name] = c
				}
			}
		})
	}
	for _, key := range []string{"fmt/fmt", "fmt//fmt"} {
		override(key, func(p map[string]reflect.Value, alias func(string, any)) {
			p["Print"] = reflect.ValueOf(func(a ...any) (int, error) { return fmt.Fprint(stdout, a...) })
			p["Printf"] = reflect.ValueOf(func(f string, a ...any) (int, error) { return fmt.Fprintf(stdout, f, a...) })
			p["Println"] = reflect.ValueOf(func(a ...any) (int, error) { return fmt.Fprintln(stdout, a...) })
			alias("Print", fmt.Print)
			alias("Printf", fmt.Printf)
			alias("Println", fmt.Println)
		})
	}
	override("log/log", func(p map[string]reflect.Value, alias func(string, any)) {
		l := log.New(stderr, "", log.LstdFlags)
		for name, fn := range map[string]any{
			"Fatal": l.Panic, "Fatalf": l.Panicf, "Fatalln": l.Panicln, // a script must not exit the process
			"Flags": l.Flags, "Output": l.Output, "Panic": l.Panic, "Panicf": l.Panicf, "Panicln": l.Panicln,
			"Prefix": l.Prefix, "Print": l.Print, "Printf": l.Printf, "Println": l.Println,
			"SetFlags": l.SetFlags, "SetOutput": l.SetOutput, "SetPrefix": l.SetPrefix, "Writer": l.Writer,
			"Default": func() *log.Logger { return l },
		} {
			p[name] = reflect.ValueOf(fn)
		}
		alias("Print", log.Print)
		alias("Printf", log.Printf)
		alias("Println", log.Println)
		alias("Panic", log.Panic)
		alias("Panicf", log.Panicf)
		alias("Panicln", log.Panicln)
	})
	override("flag/flag", func(p map[string]reflect.Value, _ func(string, any)) {
		// A flag set that exits on a bad flag would end the server:
		// ExitOnError means PanicOnError to a script, as log.Fatal
		// means log.Panic.
		p["ExitOnError"] = reflect.ValueOf(flag.PanicOnError)
		fs := flag.NewFlagSet(os.Args[0], flag.PanicOnError)
		fs.SetOutput(stderr)
		p["CommandLine"] = reflect.ValueOf(&fs).Elem()
		// The package funcs work on flag.CommandLine; the flag set's
		// methods of the same name and type are their private twins.
		fv := reflect.ValueOf(fs)
		for name, v := range p {
			if v.Kind() != reflect.Func {
				continue
			}
			if m := fv.MethodByName(name); m.IsValid() && m.Type() == v.Type() {
				p[name] = m
			}
		}
	})
	override("os/os", func(p map[string]reflect.Value, _ func(string, any)) {
		args := append([]string(nil), os.Args...)
		p["Args"] = reflect.ValueOf(&args).Elem()
		if f, ok := stdout.(*os.File); ok {
			p["Stdout"] = reflect.ValueOf(&f).Elem()
		}
		if f, ok := stderr.(*os.File); ok {
			p["Stderr"] = reflect.ValueOf(&f).Elem()
		}
		// A script reading the server's stdin would block in compiled
		// code, where stopping cannot reach, and take the input of the
		// server's terminal: it reads an empty stdin of its own.
		if null, err := os.Open(os.DevNull); err == nil {
			b.add(null)
			p["Stdin"] = reflect.ValueOf(&null).Elem()
		}
		env := &environ{m: map[string]string{}}
		p["Clearenv"] = reflect.ValueOf(env.clear)
		p["ExpandEnv"] = reflect.ValueOf(func(s string) string { return os.Expand(s, env.get) })
		p["Getenv"] = reflect.ValueOf(env.get)
		p["LookupEnv"] = reflect.ValueOf(env.lookup)
		p["Setenv"] = reflect.ValueOf(env.set)
		p["Unsetenv"] = reflect.ValueOf(env.unset)
		p["Environ"] = reflect.ValueOf(env.list)
	})
	override("net/net", func(p map[string]reflect.Value, _ func(string, any)) {
		for _, name := range []string{"Listen", "ListenPacket", "ListenTCP", "ListenUDP", "ListenUnix", "ListenUnixgram",
			"ListenIP", "ListenMulticastUDP", "FileListener", "FilePacketConn"} {
			if v, ok := p[name]; ok {
				p[name] = b.tracking(v)
			}
		}
		if d := net.DefaultResolver; d != nil {
			r := &net.Resolver{PreferGo: d.PreferGo, StrictErrors: d.StrictErrors, Dial: d.Dial}
			p["DefaultResolver"] = reflect.ValueOf(&r).Elem()
		}
	})
	override("crypto/tls/tls", func(p map[string]reflect.Value, _ func(string, any)) {
		for _, name := range []string{"Listen", "NewListener"} {
			if v, ok := p[name]; ok {
				p[name] = b.tracking(v)
			}
		}
	})
	override("time/time", func(p map[string]reflect.Value, _ func(string, any)) {
		p["Sleep"] = reflect.ValueOf(b.sleep)
		p["AfterFunc"] = reflect.ValueOf(b.afterFunc)
	})
	override("net/http/http", func(p map[string]reflect.Value, _ func(string, any)) {
		mux := http.NewServeMux()
		tr := b.transport()
		client := &http.Client{Transport: tr}
		p["DefaultServeMux"] = reflect.ValueOf(&mux).Elem()
		p["DefaultTransport"] = reflect.ValueOf(&tr).Elem()
		p["DefaultClient"] = reflect.ValueOf(&client).Elem()
		handler := func(h http.Handler) http.Handler {
			if h == nil {
				return mux
			}
			return h
		}
		for name, fn := range map[string]any{
			"Handle":     mux.Handle,
			"HandleFunc": mux.HandleFunc,
			"Get":        client.Get,
			"Head":       client.Head,
			"Post":       client.Post,
			"PostForm":   client.PostForm,
			"ListenAndServe": func(addr string, h http.Handler) error {
				srv := b.server(handler(h))
				srv.Addr = addr
				return srv.ListenAndServe()
			},
			"ListenAndServeTLS": func(addr, cert, key string, h http.Handler) error {
				srv := b.server(handler(h))
				srv.Addr = addr
				return srv.ListenAndServeTLS(cert, key)
			},
			"Serve": func(l net.Listener, h http.Handler) error {
				return b.server(handler(h)).Serve(l)
			},
			"ServeTLS": func(l net.Listener, h http.Handler, cert, key string) error {
				return b.server(handler(h)).ServeTLS(l, cert, key)
			},
		} {
			p[name] = reflect.ValueOf(fn)
		}
	})
}

// box holds what one script opened through the sandbox that outlives a
// call: listeners, servers, the idle connections of its HTTP transport.
// close closes them all, and whatever the script opens after that at once.
type box struct {
	// halted is closed when the script's interpreter is stopped; set
	// before any of its code runs, never changed after.
	halted <-chan struct{}
	// panicked receives what a func the script handed to time.AfterFunc
	// panicked with; set, like halted, before any of its code runs.
	panicked func(v any)

	mu      sync.Mutex // guards the fields below
	closers []io.Closer
	tr      *http.Transport
	closed  bool
}

// afterFunc is time.AfterFunc for a script: a panic in f, which would end
// the process from the timer's goroutine, goes to b.panicked instead.
func (b *box) afterFunc(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		defer func() {
			if v := recover(); v != nil && b.panicked != nil {
				b.panicked(v)
			}
		}()
		f()
	})
}

// sleep is time.Sleep for a script: it also ends when the interpreter is
// stopped, so that a stopped script's goroutine (a worker loop, a
// top-level code that timed out) does not stay asleep inside compiled
// code, where the interpreter cannot end it.
func (b *box) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.halted:
	}
}

func newBox() *box { return &box{} }

// add keeps c to close with the box, or closes it now if the box is closed.
func (b *box) add(c io.Closer) {
	b.mu.Lock()
	if !b.closed {
		b.closers = append(b.closers, c)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	_ = c.Close()
}

// tracking wraps fn, a func whose first result is a listener or a packet
// connection, so that what it returns is closed with the box.
func (b *box) tracking(fn reflect.Value) reflect.Value {
	return reflect.MakeFunc(fn.Type(), func(args []reflect.Value) []reflect.Value {
		out := fn.Call(args)
		if len(out) > 0 && !out[0].IsNil() {
			if c, ok := out[0].Interface().(io.Closer); ok {
				b.add(c)
			}
		}
		return out
	})
}

// server returns a server for h that is closed with the box.
func (b *box) server(h http.Handler) *http.Server {
	srv := &http.Server{Handler: h}
	b.add(srv)
	return srv
}

// transport returns the script's own copy of http.DefaultTransport.
func (b *box) transport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport // replaced by the application; shared
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tr == nil {
		b.tr = t.Clone()
	}
	return b.tr
}

func (b *box) close() {
	b.mu.Lock()
	cs, tr := b.closers, b.tr
	b.closers, b.closed = nil, true
	b.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	if tr != nil {
		tr.CloseIdleConnections()
	}
}

// environ is a script's environment: empty at first, and its own, so a
// script reads no secret from the server's environment and changes nothing
// in it.
type environ struct {
	mu sync.Mutex // guards m; script calls may run concurrently
	m  map[string]string
}

func (e *environ) get(k string) string { v, _ := e.lookup(k); return v }

func (e *environ) lookup(k string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[k]
	return v, ok
}

func (e *environ) set(k, v string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[k] = v
	return nil
}

func (e *environ) unset(k string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, k)
	return nil
}

func (e *environ) clear() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.m)
}

func (e *environ) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.m))
	for k, v := range e.m {
		out = append(out, k+"="+v)
	}
	return out
}
