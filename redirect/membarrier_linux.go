//go:build linux && (amd64 || arm64)

package redirect

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Commands of membarrier(2) (include/uapi/linux/membarrier.h).
const (
	membarrierCmdQuery                            = 0
	membarrierCmdPrivateExpeditedSyncCore         = 1 << 5
	membarrierCmdRegisterPrivateExpeditedSyncCore = 1 << 6
	membarrierCmdsSyncCore                        = membarrierCmdPrivateExpeditedSyncCore | membarrierCmdRegisterPrivateExpeditedSyncCore
)

// syncCoreRegistration registers this process, once, for
// MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE (Linux 4.16 and later) and
// keeps the outcome: nil, or why the command cannot be used (an older
// kernel, an architecture without it, a seccomp filter). It is
// package-level because what it records is: the kernel keeps the
// registration per process (per address space) for the life of the
// process and offers no way to undo it, so a second registration would be
// redundant and a per-value one would pretend to a scope it does not have.
// It is computed on the first code write, not at init: processes that
// never redirect never make the call.
var syncCoreRegistration = sync.OnceValue(func() error {
	mask, err := membarrier(membarrierCmdQuery)
	if err != nil {
		return fmt.Errorf("membarrier query: %w", err)
	}
	if mask&membarrierCmdsSyncCore != membarrierCmdsSyncCore {
		return fmt.Errorf("membarrier: the kernel offers no PRIVATE_EXPEDITED_SYNC_CORE (commands %#x)", mask)
	}
	if _, err := membarrier(membarrierCmdRegisterPrivateExpeditedSyncCore); err != nil {
		return fmt.Errorf("membarrier register: %w", err)
	}
	return nil
})

// syncCores returns once every thread of this process has executed a
// core-serializing instruction: the kernel interrupts the CPUs that run
// one of its threads now (the return from that interrupt serializes) and
// serializes the others before they next return to user space. It is
// what the architectures ask of a processor before it executes code that
// another processor modified.
func syncCores() error {
	if err := syncCoreRegistration(); err != nil {
		return err
	}
	if _, err := membarrier(membarrierCmdPrivateExpeditedSyncCore); err != nil {
		return fmt.Errorf("membarrier sync-core: %w", err)
	}
	return nil
}

func membarrier(cmd int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
