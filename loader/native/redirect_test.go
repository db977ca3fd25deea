package native

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// fakeCode stands for machine code: which replacement each target's entry
// jumps to, as redirect.Redirect and Restore would leave it.
type fakeCode struct {
	live map[uintptr]string // target entry -> name of the live replacement
	fail map[string]bool    // replacements whose Redirect fails
	log  []string
}

type fakeRedirection struct {
	c     *fakeCode
	entry uintptr
	name  string
	done  bool
}

func (r *fakeRedirection) Restore() error {
	if r.done {
		return nil
	}
	if r.c.live[r.entry] != r.name {
		return fmt.Errorf("entry %#x holds %q, not %q", r.entry, r.c.live[r.entry], r.name)
	}
	delete(r.c.live, r.entry)
	r.done = true
	r.c.log = append(r.c.log, "restore "+r.name)
	return nil
}

// redirect returns the redirectFunc of c. Targets and replacements are
// strings here: the target's entry is its length, so "a" and "b" share one.
func (c *fakeCode) redirect(target, replacement any) (restorer, error) {
	entry := uintptr(len(target.(string)))
	name := replacement.(string)
	if _, busy := c.live[entry]; busy {
		return nil, fmt.Errorf("already redirected")
	}
	if c.fail[name] {
		return nil, fmt.Errorf("cannot redirect to %s", name)
	}
	c.live[entry] = name
	c.log = append(c.log, "redirect "+name)
	return &fakeRedirection{c: c, entry: entry, name: name}, nil
}

func set(target string, replacements ...string) *redirectSet {
	s := &redirectSet{}
	for _, r := range replacements {
		s.list = append(s.list, &redirectEntry{name: target, target: target, replacement: r, entry: uintptr(len(target))})
	}
	return s
}

func TestRedirTableStack(t *testing.T) {
	c := &fakeCode{live: map[uintptr]string{}}
	tab := redirTable{targets: map[uintptr]*redirTarget{}}
	p1, p2, p3 := set("f", "p1"), set("f", "p2"), set("f", "p3")
	live := func(want string) {
		t.Helper()
		if got := c.live[1]; got != want {
			t.Fatalf("live = %q, want %q (log %v)", got, want, c.log)
		}
	}
	for _, s := range []*redirectSet{p1, p2, p3} {
		if err := tab.push(s, c.redirect); err != nil {
			t.Fatal(err)
		}
	}
	live("p3")
	if err := tab.push(p3, c.redirect); err != nil { // idempotent
		t.Fatal(err)
	}
	live("p3")
	if err := tab.pop(p2, c.redirect); err != nil { // shadowed: nothing live changes
		t.Fatal(err)
	}
	live("p3")
	if err := tab.pop(p3, c.redirect); err != nil { // back to the one below
		t.Fatal(err)
	}
	live("p1")
	if err := tab.pop(p3, c.redirect); err != nil { // popping twice does nothing
		t.Fatal(err)
	}
	if err := tab.pop(p1, c.redirect); err != nil {
		t.Fatal(err)
	}
	live("")
	if len(tab.targets) != 0 {
		t.Errorf("targets left: %v", tab.targets)
	}
	if err := tab.pop(set("f", "never"), c.redirect); err != nil { // never pushed
		t.Fatal(err)
	}
}

// TestRedirTableAllOrNothing pushes a set whose second redirection fails:
// the first is undone and the previous top is live again.
func TestRedirTableAllOrNothing(t *testing.T) {
	c := &fakeCode{live: map[uintptr]string{}, fail: map[string]bool{"bad": true}}
	tab := redirTable{targets: map[uintptr]*redirTarget{}}
	base := set("f", "base")
	if err := tab.push(base, c.redirect); err != nil {
		t.Fatal(err)
	}
	both := &redirectSet{list: []*redirectEntry{
		{name: "f", target: "f", replacement: "good", entry: 1},
		{name: "gg", target: "gg", replacement: "bad", entry: 2},
	}}
	err := tab.push(both, c.redirect)
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("err = %v, want ErrRedirect", err)
	}
	if c.live[1] != "base" || c.live[2] != "" {
		t.Fatalf("live = %v, want only f -> base (log %v)", c.live, c.log)
	}
	if both.pushed {
		t.Error("failed set marked pushed")
	}
	if err := tab.pop(both, c.redirect); err != nil { // releasing a refused patch
		t.Fatal(err)
	}
	if c.live[1] != "base" {
		t.Fatalf("live = %v after releasing the refused set", c.live)
	}
	want := []string{"redirect base", "restore base", "redirect good", "restore good", "redirect base"}
	if !slices.Equal(c.log, want) {
		t.Errorf("log = %v, want %v", c.log, want)
	}
}

// TestRedirTableForeignChange: Restore fails because someone else rewrote
// the entry; the error is reported, not hidden.
func TestRedirTableForeignChange(t *testing.T) {
	c := &fakeCode{live: map[uintptr]string{}}
	tab := redirTable{targets: map[uintptr]*redirTarget{}}
	s := set("f", "mine")
	if err := tab.push(s, c.redirect); err != nil {
		t.Fatal(err)
	}
	c.live[1] = "someone else"
	if err := tab.pop(s, c.redirect); !errors.Is(err, ErrRedirect) {
		t.Fatalf("pop = %v, want ErrRedirect", err)
	}
}
