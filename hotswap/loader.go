package hotswap

import "context"

// Loader turns a patch file into a [Patch]. Each kind of patch has its own
// loader (packages under loader/); the manager and the directory glue call
// them through this interface and never import them.
type Loader interface {
	// Kind is the kind of patch the loader makes.
	Kind() Kind
	// Match reports whether the loader handles the file at path, by its
	// name (extension) alone.
	Match(path string) bool
	// Load reads the file and returns a patch ready for [Manager.Apply]. It
	// changes no slot. The patch ID must be derived from the file's name and
	// content, so that the same bytes give the same ID. Errors name the file,
	// and the line where there is one. A loaded patch that is then not
	// applied (Apply refused it) must be released by its caller through its
	// Retire hook; the manager retires only patches that were applied.
	Load(ctx context.Context, path string) (Patch, error)
}
