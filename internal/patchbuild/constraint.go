package patchbuild

import (
	"bytes"
	"fmt"
	"go/build"
	"go/build/constraint"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
)

// checkConstraint refuses a patch whose build constraint leaves it out of
// a build with the baseline's settings: the go command would compile the
// generated code without it and fail on names the patch declares
// ("undefined: F"), far from the cause. The constraint is evaluated as
// the go command would for the baseline: its GOOS, GOARCH, cgo, -tags,
// -race, -msan, -asan, GOEXPERIMENT and Go version.
func checkConstraint(path string, src []byte, info *debug.BuildInfo) error {
	ctxt := build.Default
	ctxt.CgoEnabled = false
	ctxt.BuildTags = nil
	ctxt.ReleaseTags = nil
	ctxt.ToolTags = nil
	for _, s := range info.Settings {
		switch k, v := s.Key, s.Value; {
		case k == "GOOS":
			ctxt.GOOS = v
		case k == "GOARCH":
			ctxt.GOARCH = v
		case k == "CGO_ENABLED":
			ctxt.CgoEnabled = v == "1"
		case k == "-tags":
			ctxt.BuildTags = append(ctxt.BuildTags, strings.Split(v, ",")...)
		case (k == "-race" || k == "-msan" || k == "-asan") && v == "true":
			ctxt.BuildTags = append(ctxt.BuildTags, k[1:])
		case k == "GOEXPERIMENT":
			for _, e := range strings.Split(v, ",") {
				if e != "" && !strings.HasPrefix(e, "no") {
					ctxt.ToolTags = append(ctxt.ToolTags, "goexperiment."+e)
				}
			}
		}
	}
	// The experiments the toolchain enables by default are tags too; the
	// local toolchain is the baseline's (checkToolchain).
	for _, t := range build.Default.ToolTags {
		if strings.HasPrefix(t, "goexperiment.") {
			ctxt.ToolTags = append(ctxt.ToolTags, t)
		}
	}
	ctxt.ReleaseTags = releaseTags(info.GoVersion)
	ctxt.OpenFile = func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(src)), nil }
	ok, err := ctxt.MatchFile("/", "patch.go")
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSource, path, err)
	}
	if ok {
		return nil
	}
	return fmt.Errorf("%w: %s: its build constraint %s leaves it out of a build for the baseline (GOOS=%s GOARCH=%s cgo=%v tags %q), "+
		"so the go command would not compile it; remove the constraint or make it hold for the baseline",
		ErrSource, path, constraintLine(src), ctxt.GOOS, ctxt.GOARCH, ctxt.CgoEnabled, ctxt.BuildTags)
}

// releaseTags returns go1.1 ... go1.N for Go version goVersion (go1.N.x).
func releaseTags(goVersion string) []string {
	minor := 0
	if rest, ok := strings.CutPrefix(goVersion, "go1."); ok {
		n, _, _ := strings.Cut(rest, ".")
		n, _, _ = strings.Cut(n, "rc")
		n, _, _ = strings.Cut(n, "beta")
		minor, _ = strconv.Atoi(n)
	}
	var tags []string
	for i := 1; i <= minor; i++ {
		tags = append(tags, "go1."+strconv.Itoa(i))
	}
	return tags
}

// constraintLine returns the build constraint lines of src's header, as
// written.
func constraintLine(src []byte) string {
	var lines []string
	for line := range bytes.Lines(src) {
		text := strings.TrimSpace(string(line))
		if constraint.IsGoBuild(text) || constraint.IsPlusBuild(text) {
			lines = append(lines, strconv.Quote(text))
		}
		if strings.HasPrefix(text, "package ") {
			break
		}
	}
	return strings.Join(lines, " and ")
}
