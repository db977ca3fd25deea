// Package control is the handshake of a process patch, shared by the host
// (loader/process) and the plugin side (loader/process/procplugin):
// go-plugin's handshake settings, the environment the host passes, and the
// small gRPC control service whose Hello tells the host the slots the
// plugin serves and the unix socket of the call channel
// (loader/process/internal/callchan).
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// go-plugin launches the plugin, checks the magic cookie and protocol
// version, carries its logs and standard streams, answers health checks and
// stops it. Calls do not go over gRPC: the plugin registers one small
// control service on go-plugin's gRPC server, and its Hello method tells the
// host the slots the plugin serves, their types, and the unix socket of the
// call channel. The service is described by hand (no generated code); its
// messages are wrappers.BytesValue holding JSON.

const (
	// PluginName is the name the plugin is served and dispensed under.
	PluginName = "hotpatch"
	// ProtocolVersion is go-plugin's application protocol version.
	ProtocolVersion = 1
	// magicCookieKey and magicCookieValue keep the plugin from running when
	// it is not launched by a hotpatch host.
	magicCookieKey   = "HOTPATCH_PROCESS_PLUGIN"
	magicCookieValue = "6b1d0f3e9a7c4c52-hotpatch-process"

	// EnvCallSocket names the unix socket path the plugin listens on for
	// the call channel, in a private directory of the host.
	EnvCallSocket = "HOTPATCH_PROCESS_SOCKET"
	// EnvParentPID is the host's pid: the plugin exits when its parent
	// changes (the host died), on every platform.
	EnvParentPID = "HOTPATCH_PROCESS_PARENT"

	controlService = "hotpatch.process.v1.Control"
	helloMethod    = "/" + controlService + "/Hello"
)

// HandshakeConfig is go-plugin's handshake of a hotpatch process plugin.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   magicCookieKey,
		MagicCookieValue: magicCookieValue,
	}
}

// HelloRequest is the host's first message.
type HelloRequest struct {
	Version int `json:"version"` // the call channel version the host speaks
}

// HelloReply is the plugin's answer: everything the host checks before it
// makes a call.
type HelloReply struct {
	Version int        `json:"version"` // the call channel version the plugin speaks
	PID     int        `json:"pid"`
	Socket  string     `json:"socket"` // the call channel's unix socket
	Slots   []SlotInfo `json:"slots"`  // in call-channel index order

	// Manifest is the build manifest of a patch built by `hotpatch patch
	// build` (internal/manifest), if any.
	Manifest string `json:"manifest,omitempty"`
}

// SlotInfo describes one slot the plugin serves.
type SlotInfo struct {
	Name string `json:"name"`
	Type string `json:"type"` // as Go spells it, for people
	Desc string `json:"desc"` // canonical description, compared by the host
}

// Server is implemented by the plugin side.
type Server interface {
	Hello(ctx context.Context, req HelloRequest) (HelloReply, error)
}

func controlServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: controlService,
		HandlerType: (*Server)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Hello",
			Handler:    helloHandler,
		}},
		Streams:  []grpc.StreamDesc{},
		Metadata: "hotpatch/process/control",
	}
}

func helloHandler(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.BytesValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	var req HelloRequest
	if err := json.Unmarshal(in.Value, &req); err != nil {
		return nil, fmt.Errorf("hello request: %w", err)
	}
	reply, err := srv.(Server).Hello(ctx, req)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(reply)
	if err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(out), nil
}

// Client is the host side of the control service.
type Client struct {
	conn *grpc.ClientConn
}

// Hello asks the plugin for its slots and its call socket.
func (c *Client) Hello(ctx context.Context, req HelloRequest) (HelloReply, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return HelloReply{}, err
	}
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, helloMethod, wrapperspb.Bytes(in), out); err != nil {
		return HelloReply{}, fmt.Errorf("hello: %w", err)
	}
	var reply HelloReply
	if err := json.Unmarshal(out.Value, &reply); err != nil {
		return HelloReply{}, fmt.Errorf("hello reply: %w", err)
	}
	return reply, nil
}

// GRPCPlugin is the go-plugin plugin of a hotpatch process plugin: on the
// plugin side it registers the control service; on the host side it
// dispenses a Client.
type GRPCPlugin struct {
	Srv Server // plugin side only
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Srv == nil {
		return errors.New("process: no control server")
	}
	s.RegisterService(controlServiceDesc(), p.Srv)
	return nil
}

func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{conn: conn}, nil
}

// Server and Client refuse net/rpc: hotpatch process plugins speak gRPC.
func (p *GRPCPlugin) Server(*plugin.MuxBroker) (any, error) {
	return nil, errors.New("process: net/rpc is not supported")
}

func (p *GRPCPlugin) Client(*plugin.MuxBroker, *rpc.Client) (any, error) {
	return nil, errors.New("process: net/rpc is not supported")
}
