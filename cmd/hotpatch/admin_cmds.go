package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// adminCommands are the commands that talk to a running server.
func adminCommands() []*command {
	return []*command{statusCommand(), pushCommand(), revertCommand(), historyCommand(), eventsCommand(), restartCommand()}
}

const remoteSynopsis = "[--addr ADDR] [--token T | --cert F --key F] [--ca F] [--json]"

func statusCommand() *command {
	return &command{
		name:     "status",
		summary:  "show a running server's slots, patch stack and baseline",
		synopsis: "hotpatch status " + remoteSynopsis,
		doc: `
Prints the server's generation, its baseline (fingerprint and the
journal's identity), each slot with the patch serving it, and the patch
stack, bottom first, with each patch's probation.` + remoteHelp,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var rf remoteFlags
			rf.declare(fs, 30*time.Second)
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) > 0 {
					return usageError("no arguments wanted")
				}
				var st api.Status
				return rf.call(ctx, "GET", api.PathStatus, nil, stdout, &st, func() { printStatus(stdout, st) })
			}
		},
	}
}

func printStatus(w io.Writer, st api.Status) {
	fmt.Fprintf(w, "pid          %d\n", st.PID)
	fmt.Fprintf(w, "generation   %d\n", st.Generation)
	fmt.Fprintf(w, "fingerprint  %s\n", cell(orDash(st.Baseline.Fingerprint)))
	fmt.Fprintf(w, "baseline     %s\n", cell(orDash(st.Baseline.Identity)))
	fmt.Fprintf(w, "state dir    %s\n", cell(orDash(st.Baseline.StateDir)))
	fmt.Fprintf(w, "restart      %s\n", map[bool]string{true: "on", false: "off"}[st.Restart])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSLOT\tTYPE\tSERVED BY\tKIND\tGEN\tFAILURES")
	for _, s := range st.Slots {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", cell(s.Name), cell(s.Type), cell(orDefault(s.PatchID, "baseline")), cell(orDash(s.Kind)), s.Generation, s.Failures)
	}
	tw.Flush()
	if len(st.Stack) == 0 {
		fmt.Fprintln(w, "\nno patch applied")
		return
	}
	fmt.Fprintln(tw, "\nPATCH\tKIND\tSLOTS\tSERVING\tGEN\tAPPLIED\tPROBATION")
	for _, p := range st.Stack {
		prob := "-"
		if p.Probation != nil {
			prob = fmt.Sprintf("%s %d/%d failed", cell(p.Probation.State), p.Probation.Failures, p.Probation.Calls)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", cell(p.ID), cell(p.Kind), cell(strings.Join(p.Slots, ",")), cell(orDash(strings.Join(p.Serving, ","))),
			p.Generation, p.AppliedAt.Local().Format(time.DateTime), prob)
	}
	tw.Flush()
}

func pushCommand() *command {
	return &command{
		name:     "push",
		summary:  "push a bundle to a running server",
		synopsis: "hotpatch push " + remoteSynopsis + " FILE.hpatch",
		doc: `
Sends FILE.hpatch (a bundle of hotpatch bundle) to the server, which
checks it as it checks a bundle of its patch directory, applies it, and
answers once the patch is stored in its state directory: a restart of
the same baseline applies it again. A newer version of an applied bundle
ID replaces the older one.` + remoteHelp,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var rf remoteFlags
			rf.declare(fs, 5*time.Minute)
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) != 1 {
					return usageError("want one FILE.hpatch, have %d arguments", len(args))
				}
				data, _, err := patchfile.ReadFile(args[0], 1<<30)
				if err != nil {
					return err
				}
				var res api.PushResult
				return rf.call(ctx, "POST", api.PathPush, bytes.NewReader(data), stdout, &res, func() {
					fmt.Fprintf(stdout, "pushed %s (%s) at generation %d", cell(res.ID), cell(res.Kind), res.Generation)
					if res.Replaced != "" {
						fmt.Fprintf(stdout, ", replacing %s", cell(res.Replaced))
					}
					fmt.Fprintf(stdout, "; stored as %s\n", cell(res.Stored))
				})
			}
		},
	}
}

func revertCommand() *command {
	return &command{
		name:     "revert",
		summary:  "revert a patch of a running server",
		synopsis: "hotpatch revert " + remoteSynopsis + " ID",
		doc: `
Removes the patch ID (as status lists it, e.g. greet@3) from the server's
stack: each slot it served goes back to the patch below or the baseline,
and a restart no longer applies it.` + remoteHelp,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var rf remoteFlags
			rf.declare(fs, 30*time.Second)
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) != 1 {
					return usageError("want one patch ID, have %d arguments", len(args))
				}
				body, _ := json.Marshal(api.RevertRequest{ID: args[0]})
				var res api.Result
				return rf.call(ctx, "POST", api.PathRevert, bytes.NewReader(body), stdout, &res, func() { fmt.Fprintln(stdout, text(res.Note)) })
			}
		},
	}
}

func historyCommand() *command {
	return &command{
		name:     "history",
		summary:  "show a running server's recent events, audit included",
		synopsis: "hotpatch history " + remoteSynopsis,
		doc: `
Prints the server's recent events, oldest first: applied, reverted,
rejected, rolled-back patches, and the audit of every push, revert and
restart (who, what, result).` + remoteHelp,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var rf remoteFlags
			rf.declare(fs, 30*time.Second)
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) > 0 {
					return usageError("no arguments wanted")
				}
				var h api.History
				return rf.call(ctx, "GET", api.PathHistory, nil, stdout, &h, func() {
					tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "TIME\tGEN\tTYPE\tPATCH\tWHAT")
					for _, e := range h.Events {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.Generation, cell(e.Type), cell(orDash(e.PatchID)), eventWhat(e))
					}
					tw.Flush()
				})
			}
		},
	}
}

// eventWhat is an event's note and error on one line.
func eventWhat(e api.Event) string {
	var parts []string
	if e.Note != "" {
		parts = append(parts, e.Note)
	}
	if e.Err != "" {
		parts = append(parts, "error: "+e.Err)
	}
	if len(parts) == 0 && len(e.Slots) > 0 {
		parts = append(parts, "slots "+strings.Join(e.Slots, ","))
	}
	return cell(strings.ReplaceAll(strings.Join(parts, "; "), "\n", " "))
}

func eventsCommand() *command {
	return &command{
		name:     "events",
		summary:  "follow a running server's events until interrupted",
		synopsis: "hotpatch events " + remoteSynopsis,
		doc: `
Prints the server's events as they happen, one a line (with --json, one
JSON object a line), until interrupted (exit status 0) or until the
server closes the stream.` + remoteHelp,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var rf remoteFlags
			rf.declare(fs, 0)
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) > 0 {
					return usageError("no arguments wanted")
				}
				c, err := rf.client()
				if err != nil {
					return err
				}
				if rf.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, rf.timeout)
					defer cancel()
				}
				resp, err := c.open(ctx, "GET", api.PathEvents, nil)
				if err != nil {
					if errors.Is(ctx.Err(), context.Canceled) {
						return nil // interrupted before the stream began
					}
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("%w: answer %s", errUnreachable, resp.Status)
				}
				err = readEvents(resp.Body, func(ev sseEvent) error {
					if rf.asJSON {
						_, err := fmt.Fprintln(stdout, ev.data)
						return err
					}
					var e api.Event
					if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
						return fmt.Errorf("event %q: %w", ev.name, err)
					}
					_, err := fmt.Fprintf(stdout, "%s gen=%d %s %s %s\n", e.Time.Local().Format(time.DateTime), e.Generation, cell(e.Type), cell(orDash(e.PatchID)), eventWhat(e))
					return err
				})
				if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
					return nil // interrupted: the way to stop following
				}
				return err
			}
		},
	}
}

func restartCommand() *command {
	return &command{
		name:     "restart",
		summary:  "run a running server's baseline step (graceful restart)",
		synopsis: "hotpatch restart " + remoteSynopsis,
		doc: `
Asks the server to restart into its binary as it is on disk now (the
baseline step): it answers once the new process is ready, and the old
one then drains and exits. A restart already under way is refused (exit
status 1, "a restart is already in progress"), as is a server without
the baseline step.` + remoteHelp,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var rf remoteFlags
			rf.declare(fs, 5*time.Minute)
			return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				if len(args) > 0 {
					return usageError("no arguments wanted")
				}
				var res api.Result
				return rf.call(ctx, "POST", api.PathRestart, nil, stdout, &res, func() { fmt.Fprintln(stdout, text(res.Note)) })
			}
		},
	}
}

func orDash(s string) string { return orDefault(s, "-") }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
