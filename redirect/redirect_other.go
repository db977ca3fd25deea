//go:build !(linux && (amd64 || arm64))

package redirect

// site is the per-target state of the platforms that redirect.
type site struct{}

func redirect(t, r fn) (*Redirection, error) {
	return nil, ErrNotSupported
}

func restore(r *Redirection) error { return ErrNotSupported }

func directCalls(entry uintptr) (int, error) { return 0, ErrNotSupported }
