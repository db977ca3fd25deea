package script

import (
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"reflect"
	"sync"

	"github.com/traefik/yaegi/interp"
)

// sandbox gives one interpreter its own view of fmt's printing, the
// standard logger, the command line and the environment, as yaegi's Use
// does (in restricted mode) when it compiles its generic sources; see
// [policy.exports] for why it is done here. It replaces symbols in copies of
// e's tables, never in the shared standard library tables, and records the
// replacements in types so that yaegi still passes interpreted values with a
// String method to them as fmt.Stringer.
//
// Like yaegi's, this is isolation against accidents, not a security
// boundary: the script still shares the process, its files and its network.
func sandbox(e interp.Exports, types map[reflect.Value][]reflect.Type, stdout, stderr io.Writer) {
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
		fs := flag.NewFlagSet(os.Args[0], flag.PanicOnError)
		fs.SetOutput(stderr)
		p["CommandLine"] = reflect.ValueOf(&fs).Elem()
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
		env := &environ{m: map[string]string{}}
		p["Clearenv"] = reflect.ValueOf(env.clear)
		p["ExpandEnv"] = reflect.ValueOf(func(s string) string { return os.Expand(s, env.get) })
		p["Getenv"] = reflect.ValueOf(env.get)
		p["LookupEnv"] = reflect.ValueOf(env.lookup)
		p["Setenv"] = reflect.ValueOf(env.set)
		p["Unsetenv"] = reflect.ValueOf(env.unset)
		p["Environ"] = reflect.ValueOf(env.list)
	})
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
