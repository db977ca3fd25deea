package script_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests, timed-out
// evaluations included: yaegi's cancellation must stop them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
