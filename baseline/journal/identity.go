package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// Identity returns the identity of the running baseline, as the journal
// keys its records:
//
//   - a binary built by `hotpatch build`, which carries a source record:
//     "build:" and the hex SHA-256 of its fingerprint's [fingerprint.Record.Hash]
//     and of the record's [fingerprint.Sources.Hash]. Two builds of the same
//     source with the same toolchain, dependencies and flags are the same
//     baseline; an edit of any package of the module is a new one.
//   - any other binary: "exe:" and the hex SHA-256 of the executable the
//     process started from (/proc/self/exe where there is one, so a file
//     replaced since is not read). Two different builds differ; the same
//     file restarted is the same baseline.
//
// It reads the executable, so call it once, at start: hashing costs about
// as much as reading the file (see BenchmarkIdentity).
func Identity() (string, error) {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("journal: baseline identity: %w", err)
		}
	}
	if src, err := manifest.RunningSources(); err == nil {
		if fp, err := fingerprint.Fingerprint(); err == nil {
			return buildIdentity(fp, src), nil
		}
	} else if !errors.Is(err, manifest.ErrNoSources) {
		return "", fmt.Errorf("journal: baseline identity: source record: %w", err)
	}
	return exeIdentity(exe)
}

func buildIdentity(fp fingerprint.Record, src fingerprint.Sources) string {
	sum := sha256.Sum256([]byte(fp.Hash() + "\n" + src.Hash() + "\n"))
	return "build:" + hex.EncodeToString(sum[:])
}

// exeIdentity hashes the executable at path.
func exeIdentity(path string) (string, error) {
	f, _, err := patchfile.Open(path)
	if err != nil {
		return "", fmt.Errorf("journal: baseline identity: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("journal: baseline identity: read %s: %w", path, err)
	}
	return "exe:" + hex.EncodeToString(h.Sum(nil)), nil
}
