// Package stock is the domain of examples/grpcserver: the items of a
// warehouse, and the baseline logic of the server's slots — pricing an
// order ([Price]), searching the items ([Search]) and auditing one
// ([Audit]). Patches import it: scripts through the symbols the example
// generates, native and process patches as ordinary Go.
package stock
