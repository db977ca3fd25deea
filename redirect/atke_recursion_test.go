//go:build linux && (amd64 || arm64)

package redirect

import "testing"

// sumTo is a recursive target: every level calls its entry again.
//
//go:noinline
func sumTo(n int, atLevel func(int)) int {
	if atLevel != nil {
		atLevel(n)
	}
	if n == 0 {
		return 0
	}
	return n + sumTo(n-1, atLevel)
}

// sumTo10 adds 10 per level, recursing through the target's entry.
//
//go:noinline
func sumTo10(n int, atLevel func(int)) int {
	if atLevel != nil {
		atLevel(n)
	}
	if n == 0 {
		return 0
	}
	return 10*n + sumTo(n-1, atLevel)
}

func TestRedirectRecursive(t *testing.T) { runChild(t, "TestChildRedirectRecursive") }

// TestChildRedirectRecursive pins what the package documentation says of
// recursive targets: a replacement's call of the target goes through the
// entry, so runs the replacement again (every level is new), and a
// recursion in flight at the redirect runs its deeper levels in the
// replacement.
func TestChildRedirectRecursive(t *testing.T) {
	inChild(t)
	if got := sumTo(4, nil); got != 10 {
		t.Fatalf("before: %d", got)
	}
	r, err := Redirect(sumTo, sumTo10)
	if err != nil {
		t.Fatal(err)
	}
	if got := sumTo(4, nil); got != 100 {
		t.Errorf("redirected: sumTo(4) = %d, want 100 (every level through the replacement)", got)
	}
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	// In flight: redirected while level 2 of 4 runs.
	var red *Redirection
	got := sumTo(4, func(n int) {
		if n == 2 && red == nil {
			if red, err = Redirect(sumTo, sumTo10); err != nil {
				t.Error(err)
			}
		}
	})
	if err := red.Restore(); err != nil {
		t.Fatal(err)
	}
	// Levels 4, 3, 2 began in the original; levels 1 and 0 in the replacement.
	if want := 4 + 3 + 2 + 10*1; got != want {
		t.Errorf("redirected in flight: sumTo(4) = %d, want %d", got, want)
	}
	if got := sumTo(4, nil); got != 10 {
		t.Errorf("restored: %d", got)
	}
}
