//go:build linux && cgo

package native

import (
	"debug/elf"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
)

// hostFuncs finds functions of the running executable by name.
//
// Why it is needed: a func value that a plugin takes of a host function
// (the target in HotpatchRedirects) may point at the plugin's own copy of
// that function's code, not the host's. A plugin carries a copy of every
// package it links; references to a host function go through the dynamic
// linker to the host's copy, but the funcval the compiler makes for a
// func value is data of the plugin that may be relocated to the plugin's
// own copy when the host has no funcval of its own for the function (the
// host never used it as a value). Redirecting that copy would change
// nothing the host runs. So the loader takes only the name from the
// plugin's value and finds the host's entry in the host's dynamic symbol
// table, which an executable that can load plugins has for all its Go
// functions.
type hostFuncs struct {
	once  sync.Once
	entry map[string]uintptr // runtime entry of each exported function
	err   error
}

// hostAnchor is a function of the running executable whose runtime address
// and symbol value give the load bias (non-zero for PIE executables).
//
//go:noinline
func hostAnchor() {}

func (h *hostFuncs) lookup(name string) (uintptr, error) {
	h.once.Do(h.load)
	if h.err != nil {
		return 0, h.err
	}
	e, ok := h.entry[name]
	if !ok {
		return 0, fmt.Errorf("the running binary has no function %s (not in the baseline, or dropped by the linker as unused)", name)
	}
	return e, nil
}

func (h *hostFuncs) load() {
	// /proc/self/exe is the running file even if the path now holds a
	// rebuilt binary.
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		h.err = err
		return
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		h.err = err
		return
	}
	values := make(map[string]uint64, len(syms))
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			values[s.Name] = s.Value
		}
	}
	anchor := reflect.ValueOf(hostAnchor).Pointer()
	v, ok := values[runtime.FuncForPC(anchor).Name()]
	if !ok {
		h.err = errors.New("the running binary does not export its functions dynamically (it cannot load plugins)")
		return
	}
	bias := anchor - uintptr(v)
	h.entry = make(map[string]uintptr, len(values))
	for name, v := range values {
		h.entry[name] = uintptr(v) + bias
	}
}
