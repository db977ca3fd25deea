// Command hotpatch is the hotpatch command line: building patchable
// baselines and patches, and (in later releases) pushing, listing and
// reverting them.
//
// Usage:
//
//	hotpatch demo [-short] [-clients N] [-v]
//	hotpatch build [-o BIN] [-inline module|all|none|PATTERN] [go build flags] [PKG]
//	hotpatch dev [--patch-flag=-patches] [--poll D] [--debounce D] DIR [-- server args]
//	hotpatch patch build [--kind native] --baseline BIN [-o OUT.so] [--module DIR] [-v] FILE.go
//	hotpatch patch build --kind process [-o OUT.proc] [--module-root DIR] FILE.go
//	hotpatch keygen -o NAME
//	hotpatch bundle (--key KEY | --unsigned) [-o OUT.hpatch] [--id ID] [--version N] [--expires DUR] PAYLOAD
//	hotpatch verify --trust PUB [--json] FILE.hpatch
//	hotpatch status  [--addr ADDR] [credentials] [--json]
//	hotpatch push    [--addr ADDR] [credentials] [--json] FILE.hpatch
//	hotpatch revert  [--addr ADDR] [credentials] [--json] ID
//	hotpatch history [--addr ADDR] [credentials] [--json]
//	hotpatch events  [--addr ADDR] [credentials] [--json]
//	hotpatch restart [--addr ADDR] [credentials] [--json]
//	hotpatch help [COMMAND]
//
// `hotpatch help COMMAND` and `hotpatch COMMAND -h` print the same help to
// standard output and exit 0. A command line the command cannot use is
// reported on standard error with the command's synopsis, exit status 2;
// any other failure exits 1. The commands that talk to a running server
// (ADDR is unix:///path.sock or https://host:port, also $HOTPATCH_ADDR;
// credentials --token or $HOTPATCH_TOKEN, --cert and --key, --ca) exit 3
// when the server is unreachable or refuses the credentials.
//
// # Why the standard flag package
//
// Every command, these and the ones to come (status, push, revert,
// history, events, restart, dev, bundle, keygen, verify, demo, bench), is
// a name, a handful of flags and a few positional arguments, one level
// deep at most ("patch build"). A table of commands, each with a
// [flag.FlagSet] of its own and one help text, dispatched by name, covers
// that in about a hundred lines, with no dependency and no generated code.
// A CLI library would bring nested command trees, shell completion and
// POSIX flag syntax that these commands do not need, and a dependency
// every build of the CLI carries. Flags may come before or after the
// positional arguments, as with a library; `hotpatch build` passes the go
// build flags it does not know to go build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one command of the CLI.
type command struct {
	name     string // as typed after "hotpatch": "build", "patch build"
	summary  string // one line for the list of commands
	synopsis string // the usage lines, without "usage: "
	doc      string // what it does, for its help

	// setup declares the command's flags on fs and returns the func that
	// runs it with the positional arguments.
	setup func(fs *flag.FlagSet) func(ctx context.Context, args []string, stdout, stderr io.Writer) error

	// parse, if set, replaces fs.Parse: for a command that passes flags
	// it does not know to another tool. It returns the positional
	// arguments.
	parse func(fs *flag.FlagSet, args []string) ([]string, error)
}

// commands returns the commands, in the order help lists them. Each lives
// in its own file; add a command by adding its entry here.
func commands() []*command {
	return append([]*command{demoCommand(), buildCommand(), devCommand(), patchBuildCommand(), keygenCommand(), bundleCommand(), verifyCommand()}, adminCommands()...)
}

// errBadArgs marks an error in a command line: it is printed with the
// command's synopsis, and the exit status is 2.
var errBadArgs = errors.New("usage")

// usageError is a command line that cmd cannot use.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadArgs, fmt.Sprintf(format, args...))
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, err := execute(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUnreachable):
		fmt.Fprintf(stderr, "hotpatch %s: %v\n", cmd.name, err)
		return 3
	case errors.Is(err, errBadArgs):
		msg := strings.TrimPrefix(err.Error(), errBadArgs.Error()+": ")
		if cmd == nil {
			fmt.Fprintf(stderr, "hotpatch: %s\n\n", msg)
			listCommands(stderr)
			return 2
		}
		fmt.Fprintf(stderr, "hotpatch %s: %s\n", cmd.name, msg)
		fmt.Fprintf(stderr, "usage: %s\nRun 'hotpatch help %s' for details.\n", indentSynopsis(cmd.synopsis), cmd.name)
		return 2
	default:
		name := "hotpatch"
		if cmd != nil {
			name += " " + cmd.name
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

// execute finds the command args name and runs it. It returns the command
// it found, if any, for the message of an error.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (*command, error) {
	if len(args) == 0 {
		return nil, usageError("no command")
	}
	if a := args[0]; a == "help" || a == "-h" || a == "-help" || a == "--help" {
		if len(args) == 1 || a != "help" {
			listCommands(stdout)
			return nil, nil
		}
		cmd, rest := lookup(args[1:])
		if cmd == nil || len(rest) > 0 {
			return nil, usageError("no command %q", strings.Join(args[1:], " "))
		}
		printHelp(stdout, cmd)
		return nil, nil
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		return nil, usageError("no command %q", strings.Join(args[:min(len(args), 2)], " "))
	}
	fs := flag.NewFlagSet("hotpatch "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed here, once
	runCmd := cmd.setup(fs)
	parse := cmd.parse
	if parse == nil {
		parse = parseInterleaved
	}
	pos, err := parse(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, cmd)
		return cmd, nil
	}
	if err != nil {
		return cmd, usageError("%v", err)
	}
	return cmd, runCmd(ctx, pos, stdout, stderr)
}

// lookup finds the command whose name args start with, the longest first,
// and returns it with the arguments after its name.
func lookup(args []string) (*command, []string) {
	var best *command
	var rest []string
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(words) <= len(args) && strings.Join(args[:len(words)], " ") == c.name &&
			(best == nil || len(words) > len(strings.Fields(best.name))) {
			best, rest = c, args[len(words):]
		}
	}
	return best, rest
}

// parseInterleaved parses args with fs, flags before or after the
// positional arguments ("patch build FILE.go --baseline BIN" works as
// well); after "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if f := fs.Lookup(name); f != nil && !strings.Contains(name, "=") && i+1 < len(args) && !isBool(f) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// listCommands prints the commands and their summaries.
func listCommands(w io.Writer) {
	fmt.Fprintln(w, "usage: hotpatch <command> [arguments]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'hotpatch help <command>' or 'hotpatch <command> -h' for a command's help.")
}

// printHelp prints cmd's help: its synopsis, what it does, its flags.
func printHelp(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", indentSynopsis(cmd.synopsis), strings.TrimSpace(cmd.doc))
	fs := flag.NewFlagSet("hotpatch "+cmd.name, flag.ContinueOnError)
	cmd.setup(fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// indentSynopsis aligns the second and later usage lines under the first.
func indentSynopsis(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n       ")
}
