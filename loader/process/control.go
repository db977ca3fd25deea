package process

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
	// pluginName is the name the plugin is served and dispensed under.
	pluginName = "hotpatch"
	// protocolVersion is go-plugin's application protocol version.
	protocolVersion = 1
	// magicCookieKey and magicCookieValue keep the plugin from running when
	// it is not launched by a hotpatch host.
	magicCookieKey   = "HOTPATCH_PROCESS_PLUGIN"
	magicCookieValue = "6b1d0f3e9a7c4c52-hotpatch-process"

	// envCallSocket names the unix socket path the plugin listens on for
	// the call channel, in a private directory of the host.
	envCallSocket = "HOTPATCH_PROCESS_SOCKET"
	// envParentPID is the host's pid: the plugin exits when its parent
	// changes (the host died), on every platform.
	envParentPID = "HOTPATCH_PROCESS_PARENT"

	controlService = "hotpatch.process.v1.Control"
	helloMethod    = "/" + controlService + "/Hello"
)

func handshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  protocolVersion,
		MagicCookieKey:   magicCookieKey,
		MagicCookieValue: magicCookieValue,
	}
}

// helloRequest is the host's first message.
type helloRequest struct {
	Version int `json:"version"` // the call channel version the host speaks
}

// helloReply is the plugin's answer: everything the host checks before it
// makes a call.
type helloReply struct {
	Version int        `json:"version"` // the call channel version the plugin speaks
	PID     int        `json:"pid"`
	Socket  string     `json:"socket"` // the call channel's unix socket
	Slots   []slotInfo `json:"slots"`  // in call-channel index order

	// Manifest is the build manifest of a patch built by `hotpatch patch
	// build` (internal/manifest), if any.
	Manifest string `json:"manifest,omitempty"`
}

// slotInfo describes one slot the plugin serves.
type slotInfo struct {
	Name string `json:"name"`
	Type string `json:"type"` // as Go spells it, for people
	Desc string `json:"desc"` // canonical description, compared by the host
}

// controlServer is implemented by the plugin side.
type controlServer interface {
	hello(ctx context.Context, req helloRequest) (helloReply, error)
}

func controlServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: controlService,
		HandlerType: (*controlServer)(nil),
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
	var req helloRequest
	if err := json.Unmarshal(in.Value, &req); err != nil {
		return nil, fmt.Errorf("hello request: %w", err)
	}
	reply, err := srv.(controlServer).hello(ctx, req)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(reply)
	if err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(out), nil
}

// controlClient is the host side of the control service.
type controlClient struct {
	conn *grpc.ClientConn
}

func (c *controlClient) hello(ctx context.Context, req helloRequest) (helloReply, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return helloReply{}, err
	}
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, helloMethod, wrapperspb.Bytes(in), out); err != nil {
		return helloReply{}, fmt.Errorf("hello: %w", err)
	}
	var reply helloReply
	if err := json.Unmarshal(out.Value, &reply); err != nil {
		return helloReply{}, fmt.Errorf("hello reply: %w", err)
	}
	return reply, nil
}

// grpcPlugin is the go-plugin plugin of a hotpatch process plugin: on the
// plugin side it registers the control service; on the host side it
// dispenses a controlClient.
type grpcPlugin struct {
	srv controlServer // plugin side only
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.srv == nil {
		return errors.New("process: no control server")
	}
	s.RegisterService(controlServiceDesc(), p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &controlClient{conn: conn}, nil
}

// Server and Client refuse net/rpc: hotpatch process plugins speak gRPC.
func (p *grpcPlugin) Server(*plugin.MuxBroker) (any, error) {
	return nil, errors.New("process: net/rpc is not supported")
}

func (p *grpcPlugin) Client(*plugin.MuxBroker, *rpc.Client) (any, error) {
	return nil, errors.New("process: net/rpc is not supported")
}
