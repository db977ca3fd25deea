package memprobe

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type plain struct{}

func (plain) Kind() hotswap.Kind          { return "plain" }
func (plain) Match(string) bool           { return false }
func (plain) Close(context.Context) error { return nil }
func (plain) Load(context.Context, hotswap.Host, string) (hotswap.Patch, error) {
	return hotswap.Patch{}, nil
}

type counting struct {
	plain
	used int64
}

func (c *counting) Memory() (int64, int64) { return c.used, 100 }

// uncomparable counts memory and cannot be a map key.
type uncomparable struct {
	plain
	s []int
}

func (u uncomparable) Memory() (int64, int64) { return int64(len(u.s)), 9 }

type panicking struct{ plain }

func (*panicking) Memory() (int64, int64) { panic("boom") }

func TestMemory(t *testing.T) {
	var p Prober
	tests := []struct {
		l           hotswap.Loader
		used, limit int64
		ok          bool
	}{
		{plain{}, 0, 0, false},
		{&counting{used: 7}, 7, 100, true},
		{uncomparable{s: []int{1, 2}}, 2, 9, true},
		{&panicking{}, 0, 0, false},
	}
	for _, tt := range tests {
		used, limit, ok := p.Memory(tt.l)
		if used != tt.used || limit != tt.limit || ok != tt.ok {
			t.Errorf("Memory(%T) = %d, %d, %v; want %d, %d, %v", tt.l, used, limit, ok, tt.used, tt.limit, tt.ok)
		}
	}
}
