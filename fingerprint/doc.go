// Package fingerprint identifies a Go build: what must be identical for
// code compiled separately (a Go plugin, a patch) to be linked into a
// running binary, and the source record that catches what the build
// information cannot see.
//
// It imports nothing of hotpatch. The native loader (loader/native) and the
// build commands (hotpatch build, hotpatch patch build) are built on it.
//
// # Fingerprints
//
// A [Record] is what must be identical for code compiled separately, a Go
// plugin or a patch, to be linked into a running binary: the Go version,
// the main module, every dependency's path, version and sum (replacements
// included), and every build setting the go command records that changes
// code (-gcflags, -asmflags, -tags, -race, -trimpath, -cover, -pgo,
// CGO_ENABLED and the cgo compiler flags, GOOS, GOARCH, GOAMD64, GOARM64,
// GOARM and the like, GOEXPERIMENT), and vcs.revision and vcs.modified.
// [Fingerprint] reads it from the running binary; [FingerprintOf] from any
// [debug.BuildInfo], such as the one [debug/buildinfo.ReadFile] reads from
// another executable or a plugin.
//
// A few recorded settings are not compared, because they legitimately
// differ between a host and a plugin built for it or change no code:
// -buildmode (a plugin's is "plugin"), -ldflags and CGO_LDFLAGS (link-time:
// -X sets the initial value of string variables, -s and -w drop tables,
// -pluginpath names each patch build uniquely), DefaultGODEBUG (a process
// default taken from the main package), vcs and vcs.time, and the main
// package path. They are kept in Record.Path and Record.Info for people.
//
// [Record.Hash] is the hex SHA-256 of the compared part in a canonical text
// form; two records have the same hash exactly when [Diff] finds nothing
// between them. [Diff] lists what differs for people, one [Difference] per
// fact: "dependency golang.org/x/text: v0.41.0 (patch) vs v0.42.0
// (running)". [Record.MarshalText] and [Record.UnmarshalText] give the
// stable text form that patches and bundle manifests embed.
//
// A fingerprint cannot see what the go command does not record: the
// content of a directory replacement (=> ../fork) or of a modified work
// tree (vcs.modified=true) beyond that flag, and C libraries linked by cgo.
// Binaries built with -buildvcs=false record no revision at all.
//
// # Source records
//
// [Sources] maps each package whose code no module sum pins (those of the
// main module, of directory replacements, vendored ones) to a hash of its
// files. `hotpatch build` appends the record of a baseline's packages to
// the binary; a native patch carries the record of the tree it was built
// from; [DiffSources] names the packages whose source differs.
//
// # Platforms
//
// Everything here works on every platform: it reads build information and
// compares text.
package fingerprint
