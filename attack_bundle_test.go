package hotpatch

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/bundle"
)

// TestAttackBundlePolicyThatRefusesAll: a policy that requires signatures
// and trusts no usable key would refuse every bundle, each refusal
// blaming the bundle; New says what is wrong with the policy instead.
func TestAttackBundlePolicyThatRefusesAll(t *testing.T) {
	t.Parallel()
	for name, pol := range map[string]*bundle.Policy{
		"no trusted key":    {RequireSigned: true},
		"key of 31 bytes":   {RequireSigned: true, Trusted: []ed25519.PublicKey{make([]byte, 31)}},
		"unsigned, bad key": {Trusted: []ed25519.PublicKey{make([]byte, 33)}},
	} {
		rt, err := New(Options{Dir: filepath.Join(t.TempDir(), "patches"), Bundles: pol})
		if err == nil {
			rt.Close(context.Background())
		}
		if !errors.Is(err, bundle.ErrBadKey) || !strings.Contains(err.Error(), "Trusted") {
			t.Errorf("%s: New = %v, want ErrBadKey naming Trusted", name, err)
		}
	}
}
