package journal

import (
	"crypto/sha256"
	"debug/elf"
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
//     "build:" and its [fingerprint.BaselineID] (the name `hotpatch build
//     -versioned` gives it), the hex SHA-256 of its fingerprint's hash and
//     of its source record's hash. Two builds of the same
//     source with the same toolchain, dependencies and flags are the same
//     baseline; an edit of any package of the module is a new one.
//   - any other ELF binary (Linux) with a Go build ID: "go-build:" and that
//     ID, read from the executable's .note.go.buildid section. The go
//     command derives its last part from a hash of the linked file, so
//     two different builds differ and the same file restarted is the same
//     baseline; reading it costs a few system calls.
//   - any other binary (no build ID: another format, or -ldflags=-buildid=):
//     "exe:" and the hex SHA-256 of the executable the process started
//     from. This reads the whole file (about 0.1 s for the 47 MB example
//     server on a busy machine; see BenchmarkIdentity).
//
// The executable is /proc/self/exe where there is one, so a file replaced
// since the start is not read. Call it once, at start.
func Identity() (string, error) {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("journal: baseline identity: %w", err)
		}
	}
	if src, err := manifest.RunningSources(); err == nil {
		if fp, err := fingerprint.Fingerprint(); err == nil {
			return "build:" + fingerprint.BaselineID(fp, src), nil
		}
	} else if !errors.Is(err, manifest.ErrNoSources) {
		return "", fmt.Errorf("journal: baseline identity: source record: %w", err)
	}
	if id, ok := goBuildID(exe); ok {
		return "go-build:" + id, nil
	}
	return exeIdentity(exe)
}

// goBuildID reads the Go build ID from the ELF note the linker writes.
func goBuildID(exe string) (string, bool) {
	f, err := elf.Open(exe)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil || sec.Size > 4096 {
		return "", false
	}
	data, err := sec.Data()
	if err != nil || len(data) < 16 {
		return "", false
	}
	// An ELF note: name size, descriptor size, type, then the name "Go"
	// padded to 4 bytes, then the ID.
	bo := f.ByteOrder
	namesz, descsz, typ := bo.Uint32(data), bo.Uint32(data[4:]), bo.Uint32(data[8:])
	if namesz != 4 || typ != 4 || string(data[12:16]) != "Go\x00\x00" || uint64(descsz) > uint64(len(data)-16) {
		return "", false
	}
	id := string(data[16 : 16+descsz])
	if !validText(id) {
		return "", false
	}
	return id, true
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
