// Command protoc generates the Go code of a .proto file in the current
// directory with protoc and the two Go plugins, built for the run: it is
// what `go generate ./examples/grpcserver/inventorypb` runs.
//
// Usage (from the directory of the .proto file):
//
//	go run ../internal/protoc FILE.proto
//
// protoc itself must be on the PATH (Debian and Ubuntu: apt-get install
// protobuf-compiler). The plugins come from the Go module proxy, or the
// module cache once fetched, and are built into a temporary directory
// that is removed afterwards, so nothing is installed: protoc-gen-go at
// the version of google.golang.org/protobuf that go.mod requires (the
// generated code must match the runtime it links), protoc-gen-go-grpc at
// [grpcPlugin]. protoc finds them through --plugin, not the PATH.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// grpcPlugin is the protoc-gen-go-grpc that generates the service code; its
// module (google.golang.org/grpc/cmd/protoc-gen-go-grpc) is not a
// dependency of the project, hence the version here.
const grpcPlugin = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "protoc:", err)
		os.Exit(1)
	}
}

func run(protos []string) error {
	if len(protos) == 0 {
		return errors.New("no .proto file given: run it as go run ../internal/protoc FILE.proto")
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		return fmt.Errorf("protoc is not on the PATH (%w): install it (Debian, Ubuntu: apt-get install protobuf-compiler) or use the committed generated code", err)
	}
	bin, err := os.MkdirTemp("", "protoc-plugins")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)

	// In the module: the version go.mod requires.
	if err := goCmd(nil, "build", "-o", filepath.Join(bin, "protoc-gen-go"), "google.golang.org/protobuf/cmd/protoc-gen-go"); err != nil {
		return err
	}
	// Outside the module: go install at a fixed version, into bin.
	if err := goCmd([]string{"GOBIN=" + bin}, "install", grpcPlugin); err != nil {
		return err
	}
	args := []string{
		"--plugin=protoc-gen-go=" + filepath.Join(bin, "protoc-gen-go"),
		"--plugin=protoc-gen-go-grpc=" + filepath.Join(bin, "protoc-gen-go-grpc"),
		"--go_out=.", "--go_opt=paths=source_relative",
		"--go-grpc_out=.", "--go-grpc_opt=paths=source_relative",
		"-I.",
	}
	return command(nil, protoc, append(args, protos...)...)
}

func goCmd(env []string, args ...string) error {
	return command(env, "go", args...)
}

// command runs name with args, its output going to ours.
func command(env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}
