package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, &out); err != nil || !strings.Contains(out.String(), "hotpatch build") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &out); !errors.Is(err, errBadArgs) {
		t.Errorf("unknown command: %v", err)
	}
}
