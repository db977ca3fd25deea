package fingerprint

import (
	"runtime/debug"
	"slices"
	"strings"
)

// A Difference is one fact that differs between two fingerprints.
type Difference struct {
	What string // what differs: "go version", "dependency golang.org/x/text", "build setting -race"
	A, B string // its value in the first and the second record; "" where absent
}

// String describes d without naming the two sides:
// "dependency golang.org/x/text: v0.41.0 vs v0.42.0".
func (d Difference) String() string { return d.Describe("", "") }

// Describe describes d, naming the sides: with "patch" and "running",
// "dependency golang.org/x/text: v0.41.0 (patch) vs v0.42.0 (running)".
// An empty name leaves its parenthesis out.
func (d Difference) Describe(aName, bName string) string {
	side := func(v, name string) string {
		if v == "" {
			v = "(none)"
		}
		if name != "" {
			v += " (" + name + ")"
		}
		return v
	}
	return d.What + ": " + side(d.A, aName) + " vs " + side(d.B, bName)
}

// Diff lists, for people, every compared fact that differs between a and
// b, in a stable order: Go version, main module, dependencies by path,
// build settings by key. It is empty exactly when a.Hash() == b.Hash().
// Record.Path and Record.Info are not compared.
func Diff(a, b Record) []Difference {
	var out []Difference
	add := func(what, x, y string) {
		if x != y {
			out = append(out, Difference{What: what, A: x, B: y})
		}
	}
	add("go version", a.GoVersion, b.GoVersion)

	if a.Main.Path != b.Main.Path {
		add("main module", a.Main.Path, b.Main.Path)
	} else {
		x, y := moduleValues(a.Main, b.Main)
		add("main module "+a.Main.Path, x, y)
	}

	am, bm := depIndex(a.Deps), depIndex(b.Deps)
	for _, p := range mergedKeys(depPaths(a.Deps), depPaths(b.Deps)) {
		x, okx := am[p]
		y, oky := bm[p]
		var xs, ys string
		switch {
		case okx && oky:
			xs, ys = moduleValues(x, y)
		case okx:
			xs = moduleValue(x, false)
		case oky:
			ys = moduleValue(y, false)
		}
		add("dependency "+p, xs, ys)
	}

	as, bs := settingIndex(a.Settings), settingIndex(b.Settings)
	for _, k := range mergedKeys(settingKeys(a.Settings), settingKeys(b.Settings)) {
		x, okx := as[k]
		y, oky := bs[k]
		if okx != oky && (x == "" && y == "") {
			// Present but empty on one side, absent on the other: a
			// difference in the text, so in the hash; say so.
			if okx {
				x = `""`
			} else {
				y = `""`
			}
		}
		add("build setting "+k, x, y)
	}
	return out
}

// moduleValues renders two versions of one module, with sums only when
// that is what tells them apart.
func moduleValues(x, y debug.Module) (string, string) {
	xs, ys := moduleValue(x, false), moduleValue(y, false)
	if xs == ys {
		xs, ys = moduleValue(x, true), moduleValue(y, true)
	}
	return xs, ys
}

func moduleValue(m debug.Module, sums bool) string {
	var b strings.Builder
	one := func(m debug.Module) {
		b.WriteString(m.Version)
		if sums && m.Sum != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(m.Sum)
		}
	}
	one(m)
	if b.Len() == 0 {
		b.WriteString("(no version)")
	}
	if r := m.Replace; r != nil {
		b.WriteString(" => " + r.Path)
		if r.Version != "" || (sums && r.Sum != "") {
			b.WriteByte(' ')
			one(*r)
		}
	}
	return b.String()
}

func depIndex(ms []debug.Module) map[string]debug.Module {
	m := make(map[string]debug.Module, len(ms))
	for _, d := range ms {
		m[d.Path] = d
	}
	return m
}

func depPaths(ms []debug.Module) []string {
	out := make([]string, len(ms))
	for i, d := range ms {
		out[i] = d.Path
	}
	return out
}

func settingIndex(ss []debug.BuildSetting) map[string]string {
	m := make(map[string]string, len(ss))
	for _, s := range ss {
		m[s.Key] = s.Value
	}
	return m
}

func settingKeys(ss []debug.BuildSetting) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Key
	}
	return out
}

// mergedKeys returns the sorted union of two key lists.
func mergedKeys(a, b []string) []string {
	seen := make(map[string]bool, len(a)+len(b))
	var out []string
	for _, list := range [][]string{a, b} {
		for _, k := range list {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}
