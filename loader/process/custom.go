package process

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// DefaultCustomExt is the file extension a [Custom] loader matches when
// Custom.Ext is empty.
const DefaultCustomExt = ".plugin"

// Custom describes an application's own go-plugin plugin: its handshake,
// its plugin set (gRPC or net/rpc, the application's own plugin.Plugin
// implementations) and how the connected plugin serves slots. A loader
// made by [NewCustom] starts builds of that plugin with the same supervised
// swap as hotpatch's own process patches: start, handshake, health check,
// type check, drain of the old process, restarts, rollback.
//
// Calls go through the application's own client (gRPC or net/rpc), not
// through hotpatch's call channel; their errors are the application's.
type Custom struct {
	// Handshake must match the plugin's.
	Handshake plugin.HandshakeConfig
	// Plugins is the host's plugin set: every plugin any build may serve,
	// under the names the builds serve them (go-plugin's KV example serves
	// "kv_grpc" from its gRPC build and "kv" from its net/rpc build).
	Plugins plugin.PluginSet
	// Protocols lists the protocols the host accepts; nil means gRPC and
	// net/rpc.
	Protocols []plugin.Protocol
	// Ext is the file extension Match accepts; "" means DefaultCustomExt.
	Ext string
	// Slots turns the connected plugin into slot implementations. client
	// is go-plugin's client of the process and proto the protocol the build
	// negotiated (plugin.ProtocolGRPC or plugin.ProtocolNetRPC): dispense
	// the plugins that protocol's build serves, one or several, with
	// client.Dispense(name), and return one implementation per slot. It
	// is called for every process started, so that calls use that
	// process's clients. Each implementation's type must be its slot's
	// exact type, and a restarted process must serve the same slots.
	Slots func(client plugin.ClientProtocol, proto plugin.Protocol) (map[string]any, error)
}

// NewCustom returns a loader for builds of an application's own go-plugin
// plugin (see [Custom]).
func NewCustom(c Custom, opts Options) *Loader {
	if c.Slots == nil {
		panic("process: NewCustom needs Custom.Slots")
	}
	if c.Ext == "" {
		c.Ext = DefaultCustomExt
	}
	return newLoader(&c, opts)
}

// connectCustom asks the application for the slot implementations of the
// connected process.
func (in *instance) connectCustom(rpc plugin.ClientProtocol, proto plugin.Protocol, c *Custom) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("Custom.Slots (%s): %w", proto, &hotswap.PanicError{Value: v})
		}
	}()
	impls, err := c.Slots(rpc, proto)
	if err != nil {
		return fmt.Errorf("Custom.Slots (%s): %w", proto, err)
	}
	if len(impls) == 0 {
		return ErrNoSlots
	}
	in.impls = make(map[string]reflect.Value, len(impls))
	for name, impl := range impls {
		fn := reflect.ValueOf(impl)
		if !fn.IsValid() || fn.Kind() != reflect.Func || fn.IsNil() {
			return fmt.Errorf("slot %q: implementation %T is not a non-nil func", name, impl)
		}
		in.impls[name] = fn
	}
	return nil
}

// bindCustom checks a custom plugin's implementations against the registry
// and returns adapters that forward to the current process's.
func (v *version) bindCustom(in *instance) (map[string]any, error) {
	names := make([]string, 0, len(in.impls))
	for name := range in.impls {
		names = append(names, name)
	}
	sort.Strings(names)
	impls := make(map[string]any, len(names))
	var errs []error
	for _, name := range names {
		s, ok := v.host.Slot(name)
		if !ok {
			errs = append(errs, fmt.Errorf("slot %q: %w (the plugin serves it; the host has no such slot)", name, hotswap.ErrUnknownSlot))
			continue
		}
		got := in.impls[name].Type()
		if got != s.Type() {
			errs = append(errs, &hotswap.TypeMismatchError{Slot: name, Want: s.Type(), Got: got})
			continue
		}
		f := &forwarder{v: v, slot: name, typ: got, variadic: got.IsVariadic()}
		impls[name] = reflect.MakeFunc(s.Type(), f.call).Interface()
		v.owns(name, impls[name])
		v.slots = append(v.slots, name)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return impls, nil
}

func (v *version) sameCustomSlots(in *instance) error {
	if len(in.impls) != len(v.slots) {
		return fmt.Errorf("restarted plugin serves %d slots, was %d", len(in.impls), len(v.slots))
	}
	for _, name := range v.slots {
		fn, ok := in.impls[name]
		if !ok {
			return fmt.Errorf("restarted plugin does not serve slot %q", name)
		}
		if s, ok := v.host.Slot(name); !ok || fn.Type() != s.Type() {
			return fmt.Errorf("restarted plugin serves slot %q with type %v", name, fn.Type())
		}
	}
	return nil
}

// forwarder calls a custom plugin's implementation in the version's current
// process, counting the call for the drain.
type forwarder struct {
	v        *version
	slot     string
	typ      reflect.Type
	variadic bool
}

func (f *forwarder) call(args []reflect.Value) []reflect.Value {
	in := f.v.acquire()
	if in == nil {
		a := &adapter{v: f.v, slot: f.slot}
		fn, ok := a.current()
		if !ok {
			return failValues(f.typ, &CallError{Slot: f.slot, PatchID: f.v.id, Err: ErrUnavailable})
		}
		if f.variadic {
			return fn.CallSlice(args)
		}
		return fn.Call(args)
	}
	defer in.release()
	fn := in.impls[f.slot]
	if f.variadic {
		return fn.CallSlice(args)
	}
	return fn.Call(args)
}
