package baseline

import "time"

// SetIdleGrace sets how long HTTPServer's drain leaves an idle connection
// open for a next request, and returns a func that puts it back.
func SetIdleGrace(d time.Duration) (restore func()) {
	prev := idleGrace
	idleGrace = d
	return func() { idleGrace = prev }
}
