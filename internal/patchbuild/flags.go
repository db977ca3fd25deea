package patchbuild

import (
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
)

// archEnv matches the names of the GOARCH-specific variables the go
// command records as build settings (GOAMD64, GOARM64, GOARM, GO386, ...).
var archEnv = regexp.MustCompile(`^GO[A-Z0-9]+$`)

// Reproduce returns the go build flags and the environment that build code
// as the binary described by settings was built: the settings the go
// command records in a binary (see "go help buildinfo" and
// runtime/debug.BuildSetting). It refuses a binary that cannot host
// plugins (no cgo, another compiler) and settings it does not know how to
// reproduce, rather than build a patch that would not load.
//
// Known limits of what the go command records: -gcflags, -ldflags and
// -asmflags keep only their last value (so `hotpatch build` passes each at
// most once), and with -trimpath neither -ldflags nor the CGO_* variables
// are recorded, so the caller's environment supplies them.
func Reproduce(settings []debug.BuildSetting) (flags, env []string, err error) {
	for _, s := range settings {
		k, v := s.Key, s.Value
		switch {
		case k == "-asan" || k == "-msan" || k == "-race" || k == "-trimpath" || k == "-cover":
			if v == "true" {
				flags = append(flags, k)
			}
		case k == "-asmflags" || k == "-gcflags" || k == "-ldflags" || k == "-tags" || k == "-pgo":
			flags = append(flags, k+"="+v)
		case k == "-buildmode":
			if v != "exe" && v != "pie" {
				return nil, nil, fmt.Errorf("%w: built with -buildmode=%s; only an executable (exe, pie) can load plugins", ErrBaseline, v)
			}
		case k == "-compiler":
			if v != "gc" {
				return nil, nil, fmt.Errorf("%w: built with -compiler=%s; Go plugins need gc", ErrBaseline, v)
			}
		case k == "CGO_ENABLED":
			if v != "1" {
				return nil, nil, fmt.Errorf("%w: built with CGO_ENABLED=%s; a binary without cgo cannot load plugins (build it with `hotpatch build`)", ErrBaseline, v)
			}
			env = append(env, k+"="+v)
		case strings.HasPrefix(k, "CGO_"):
			env = append(env, k+"="+v)
		case k == "DefaultGODEBUG" || k == "vcs" || strings.HasPrefix(k, "vcs."):
			// DefaultGODEBUG follows from go.mod and //go:debug lines, which
			// the patch shares by being built in the same module; vcs.* are
			// metadata of the binary, not inputs to the compiler.
		case archEnv.MatchString(k):
			env = append(env, k+"="+v)
		default:
			return nil, nil, fmt.Errorf("%w: build setting %s=%q is not known to this version of hotpatch, so the patch could not be built the same way", ErrBaseline, k, v)
		}
	}
	if !hasPrefix(env, "CGO_ENABLED=") {
		return nil, nil, fmt.Errorf("%w: no CGO_ENABLED setting recorded; a binary without cgo cannot load plugins", ErrBaseline)
	}
	return flags, env, nil
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// setEnv returns env with each "KEY=value" of over replacing any earlier
// value of KEY.
func setEnv(env []string, over ...string) []string {
	out := make([]string, 0, len(env)+len(over))
	drop := make(map[string]bool, len(over))
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}
