// Package bundle is the format of signed patch bundles (*.hpatch): one
// file that carries a patch of any kind (a script, a native .so, a process
// executable) to a live service, with a manifest that says what it is and
// a signature that says who made it. Package
// [github.com/hotpatch-go/hotpatch/bundle/bundleloader] loads bundles as
// patches; `hotpatch keygen`, `hotpatch bundle` and `hotpatch verify`
// make and check them. This package links no loader, so the build side
// uses it too. The operator's guide is docs/bundles.md.
//
// # The file
//
//	magic      8 bytes   "\x89hpatch\n"
//	mlen       4 bytes   big-endian length of the manifest
//	manifest   mlen bytes of JSON (the [Manifest] schema, format 1)
//	slen       2 bytes   big-endian length of the signature block: 0 (unsigned) or 72
//	signature  the signer's [KeyID] (8 bytes), then the ed25519 signature (64)
//	payload    the rest of the file, exactly the manifest's payload size
//
// The format has one payload and no member names, links, modes or
// compression, so a bundle cannot write outside where its reader puts the
// payload, cannot link to another file, and cannot expand: an archive or a
// compressed file renamed .hpatch is refused as [ErrNotBundle] and never
// unpacked. Every length is checked against [Limits] and against the file
// before anything is allocated ([Read]); the payload's size must be exactly
// what the file holds after the signature.
//
// # The signature
//
// The signature is ed25519 over the manifest bytes exactly as stored,
// prefixed with the context string "hotpatch-bundle-v1\x00". Nothing is
// re-encoded to check it: the canonical manifest is the stored one. The
// manifest pins the payload by its SHA-256 and size, so the signature
// covers the payload too. The reader refuses a manifest with an unknown
// field, a key twice or a key not in lower-case ASCII, so the bytes signed can
// mean only one manifest.
//
// # The policy and the replay rule
//
// A [Policy] says what a host accepts (see [Policy.Verify]); each refusal
// wraps its own error. The replay rule ([CheckReplay]): for each bundle
// ID, the host keeps a high-water mark, the highest version applied and
// the digest of its manifest ([Marks]). A bundle with a lower version is a
// replay; one with the same version and another manifest reuses a version
// and is refused too; the same bundle again passes. The mark only rises,
// also when a patch is reverted: to go back, sign the old payload as a new
// version. [MemoryMarks] keeps the marks for the life of the process; a
// store that keeps them across restarts implements [Marks] (the root
// package hotpatch keeps them in its state directory).
package bundle
