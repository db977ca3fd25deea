package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hotpatch-go/hotpatch/internal/slotname"
)

// Errors about a patch source. Each reaches the caller wrapped in an
// [*Error] that says where.
var (
	ErrEmpty         = errors.New("loader: empty file")
	ErrBinary        = errors.New("loader: binary file (NUL byte)")
	ErrNotUTF8       = errors.New("loader: not valid UTF-8")
	ErrSyntax        = errors.New("loader: syntax error")
	ErrNoDirective   = errors.New("loader: no //hotpatch:slot directive (write one above each func that replaces a slot)")
	ErrBadDirective  = errors.New("loader: malformed directive (want //hotpatch:slot NAME)")
	ErrBadSlotName   = errors.New("loader: malformed slot name (want dotted identifiers such as billing.Price)")
	ErrNotFunc       = errors.New("loader: //hotpatch:slot is not directly above a top-level func")
	ErrGenericFunc   = errors.New("loader: a generic func cannot serve a slot")
	ErrDuplicateSlot = errors.New("loader: slot served by more than one func")
)

// maxSyntaxErrors bounds the syntax errors reported for one file: past the
// first few, the parser mostly reports the consequences of the first.
const maxSyntaxErrors = 10

// Error is a problem at a place in a patch source. Its message starts with
// file:line:col.
type Error struct {
	Pos token.Position // where; Line is 0 when the problem concerns the whole file
	Err error          // what; wraps one of the package's sentinel errors, or a kind's own
}

func (e *Error) Error() string {
	if e.Pos.Filename == "" && !e.Pos.IsValid() {
		return e.Err.Error()
	}
	return e.Pos.String() + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Directive is one `//hotpatch:slot NAME` line above a top-level func.
type Directive struct {
	Slot string         // the slot the func replaces
	Func string         // the Go func's name
	Pos  token.Position // of the directive
}

// Source is a parsed patch source whose directives passed every check that
// does not depend on the running program.
type Source struct {
	File       string      // the file name given to Parse
	Package    string      // the package clause's name
	Directives []Directive // in source order
	Imports    []string    // import paths, in source order
	AST        *ast.File   // parsed with comments
	FileSet    *token.FileSet
}

// Parse parses a patch source and checks its directives (see the package
// documentation for the rules). filename is used in positions and errors
// only; src is not read from it. Errors are [*Error] values, several joined
// when a file has several problems.
func Parse(filename string, src []byte) (*Source, error) {
	if err := checkText(filename, src); err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, syntaxError(filename, err)
	}
	s := &Source{File: filename, Package: f.Name.Name, AST: f, FileSet: fset}
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil { // unreachable after a successful parse; kept so a parser change cannot slip through
			return nil, &Error{Pos: fset.Position(imp.Path.Pos()), Err: fmt.Errorf("%w: bad import path %s", ErrSyntax, imp.Path.Value)}
		}
		s.Imports = append(s.Imports, p)
	}
	var errs []*Error
	s.Directives, errs = directives(fset, f)
	if len(errs) == 0 && len(s.Directives) == 0 {
		errs = append(errs, &Error{Pos: fset.Position(f.Package), Err: ErrNoDirective})
	}
	if len(errs) > 0 {
		return nil, join(errs)
	}
	return s, nil
}

// CheckSlots checks the slot of each directive with lookup, which returns
// nil for a slot the program has and the reason otherwise, and reports
// each reason at its directive. lookup is typically a host's slot lookup,
// whose reason wraps hotswap.ErrUnknownSlot (this package does not import
// hotswap, so that what builds patches stays light):
//
//	src.CheckSlots(func(name string) error {
//		if _, ok := host.Slot(name); !ok {
//			return hotswap.ErrUnknownSlot
//		}
//		return nil
//	})
func (s *Source) CheckSlots(lookup func(slot string) error) error {
	var errs []*Error
	for _, d := range s.Directives {
		if err := lookup(d.Slot); err != nil {
			errs = append(errs, &Error{Pos: d.Pos, Err: fmt.Errorf("%w: %s (func %s)", err, d.Slot, d.Func)})
		}
	}
	return join(errs)
}

// PatchID returns the ID of the patch made from content found in a file
// named filename: the file's base name, a dash and the first 12 hex digits
// of the SHA-256 of content, such as "greet.go-3fa9c2d1e0b4". The same bytes
// under the same name give the same ID, so a file saved twice unchanged is
// recognised, and a change anywhere gives a new ID.
func PatchID(filename string, content []byte) string {
	return PatchIDOfSum(filename, sha256.Sum256(content))
}

// PatchIDOfSum is [PatchID] for content whose SHA-256 is sum, for a
// caller that hashed it already (the journal).
func PatchIDOfSum(filename string, sum [sha256.Size]byte) string {
	return filepath.Base(filename) + "-" + hex.EncodeToString(sum[:6])
}

// checkText refuses what is not Go source text at all, with a clearer
// message than the parser's.
func checkText(filename string, src []byte) error {
	if len(bytes.TrimSpace(src)) == 0 {
		return &Error{Pos: token.Position{Filename: filename, Line: 1, Column: 1}, Err: ErrEmpty}
	}
	if i := bytes.IndexByte(src, 0); i >= 0 {
		return &Error{Pos: offsetPos(filename, src, i), Err: ErrBinary}
	}
	if !utf8.Valid(src) {
		i := 0
		for i < len(src) {
			r, n := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return &Error{Pos: offsetPos(filename, src, i), Err: fmt.Errorf("%w: invalid byte 0x%02x", ErrNotUTF8, src[i])}
	}
	return nil
}

// offsetPos converts a byte offset into a position with go/token's
// conventions: lines and columns count from 1, columns in bytes.
func offsetPos(filename string, src []byte, off int) token.Position {
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	col := off - (bytes.LastIndexByte(src[:off], '\n') + 1) + 1
	return token.Position{Filename: filename, Offset: off, Line: line, Column: col}
}

func syntaxError(filename string, err error) error {
	var list scanner.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		return &Error{Pos: token.Position{Filename: filename}, Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
	}
	errs := make([]*Error, 0, min(len(list), maxSyntaxErrors))
	for _, e := range list[:min(len(list), maxSyntaxErrors)] {
		errs = append(errs, &Error{Pos: e.Pos, Err: fmt.Errorf("%w: %s", ErrSyntax, e.Msg)})
	}
	return join(errs)
}

// directives finds and checks every //hotpatch: comment of f.
func directives(fset *token.FileSet, f *ast.File) ([]Directive, []*Error) {
	docOf := make(map[*ast.CommentGroup]*ast.FuncDecl)
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Doc != nil {
			docOf[fd.Doc] = fd
		}
	}
	var (
		out   []Directive
		errs  []*Error
		first = make(map[string]Directive) // slot -> the directive that claimed it
	)
	fail := func(pos token.Pos, err error) { errs = append(errs, &Error{Pos: fset.Position(pos), Err: err}) }
	for _, g := range f.Comments {
		for i, c := range g.List {
			slot, isDirective, err := parseDirective(c.Text)
			if !isDirective {
				continue
			}
			if err != nil {
				fail(c.Pos(), err)
				continue
			}
			fd := docOf[g]
			if fd == nil || i != len(g.List)-1 {
				fail(c.Pos(), fmt.Errorf("%w: %s", ErrNotFunc, misplaced(fset, f, g, c, fd)))
				continue
			}
			if err := checkFunc(fd); err != nil {
				fail(c.Pos(), err)
				continue
			}
			d := Directive{Slot: slot, Func: fd.Name.Name, Pos: fset.Position(c.Pos())}
			if prev, dup := first[slot]; dup {
				fail(c.Pos(), fmt.Errorf("%w: %s is served by func %s (line %d) and func %s", ErrDuplicateSlot, slot, prev.Func, prev.Pos.Line, d.Func))
				continue
			}
			first[slot] = d
			out = append(out, d)
		}
	}
	return out, errs
}

// parseDirective reports whether a comment is meant as a hotpatch directive
// and, if so, the slot it names or why it is malformed. Comments that merely
// look like one ("// hotpatch:slot", "/*hotpatch:slot*/") count as meant, so
// a typo is an error rather than a silently ignored line.
func parseDirective(text string) (slot string, isDirective bool, err error) {
	var body string
	switch {
	case strings.HasPrefix(text, "//hotpatch:"):
		body = text[len("//hotpatch:"):]
	case strings.HasPrefix(strings.TrimLeft(text[2:], " \t"), "hotpatch:slot"):
		if strings.HasPrefix(text, "/*") {
			return "", true, fmt.Errorf("%w: a directive is a // line comment, not /* */", ErrBadDirective)
		}
		return "", true, fmt.Errorf("%w: no space is allowed between // and hotpatch:", ErrBadDirective)
	default:
		return "", false, nil
	}
	verb, rest := body, ""
	if i := strings.IndexAny(body, " \t"); i >= 0 {
		verb, rest = body[:i], body[i:]
	}
	if verb != "slot" {
		return "", true, fmt.Errorf("%w: unknown directive //hotpatch:%s", ErrBadDirective, truncate(verb, 40))
	}
	fields := strings.Fields(rest)
	switch {
	case len(fields) == 0:
		return "", true, fmt.Errorf("%w: the slot name is missing", ErrBadDirective)
	case len(fields) > 1:
		return "", true, fmt.Errorf("%w: one slot name per directive, found %q", ErrBadDirective, truncate(strings.TrimSpace(rest), 80))
	case !slotname.Valid(fields[0]):
		return "", true, fmt.Errorf("%w: %q", ErrBadSlotName, truncate(fields[0], 80))
	}
	return fields[0], true, nil
}

// checkFunc refuses funcs that cannot be looked up and called as a slot's
// implementation.
func checkFunc(fd *ast.FuncDecl) error {
	name := fd.Name.Name
	switch {
	case fd.Recv != nil:
		return fmt.Errorf("%w: %s is a method; only plain funcs can serve a slot", ErrNotFunc, name)
	case fd.Type.TypeParams != nil && fd.Type.TypeParams.NumFields() > 0:
		return fmt.Errorf("%w: func %s has type parameters", ErrGenericFunc, name)
	case name == "init" || name == "_":
		return fmt.Errorf("%w: func %s cannot be referred to, so it cannot serve a slot", ErrNotFunc, name)
	case fd.Body == nil:
		return fmt.Errorf("%w: func %s has no body", ErrNotFunc, name)
	}
	return nil
}

// misplaced explains why directive c in group g binds to no func.
func misplaced(fset *token.FileSet, f *ast.File, g *ast.CommentGroup, c *ast.Comment, fd *ast.FuncDecl) string {
	if fd != nil {
		return fmt.Sprintf("it must be the last line of the doc comment of func %s", fd.Name.Name)
	}
	// The first declaration that ends after the comment: either it contains
	// the comment, or it is the next one below it.
	i, _ := slices.BinarySearchFunc(f.Decls, c.Pos(), func(d ast.Decl, p token.Pos) int {
		if d.End() <= p {
			return -1
		}
		return 1
	})
	if i == len(f.Decls) {
		return "nothing follows it"
	}
	switch d := f.Decls[i].(type) {
	case *ast.FuncDecl:
		if d.Pos() <= c.Pos() {
			return fmt.Sprintf("it is inside func %s", d.Name.Name)
		}
		if d.Doc != nil {
			return fmt.Sprintf("it must be the last line of the doc comment of func %s", d.Name.Name)
		}
		gap := fset.Position(d.Pos()).Line - fset.Position(g.End()).Line
		if gap > 1 {
			return fmt.Sprintf("a blank line separates it from func %s", d.Name.Name)
		}
		return fmt.Sprintf("it does not document func %s", d.Name.Name)
	case *ast.GenDecl:
		if d.Pos() <= c.Pos() {
			return fmt.Sprintf("it is inside a %s declaration", d.Tok)
		}
		return fmt.Sprintf("it is above a %s declaration", d.Tok)
	default:
		return "it is not above a func"
	}
}

func join(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Pos.Offset - b.Pos.Offset })
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
