package balconfig

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is a Config.toml that cannot be read or edited as asked: a file
// that is not a regular one or is larger than MaxSize, invalid TOML, or a
// key path that is malformed or clashes with the file's structure: a
// configuration error, which the user fixes in the file or the key path. Line and Col
// (1-based, the column in bytes) point at the problem; they are 0 when it has
// no place in the file, as for a malformed key path. The file is left
// untouched.
type Error struct {
	Path      string // the file; "" for a Doc made by Parse
	Line, Col int
	Reason    string // what is wrong, and how to fix it where there is a fix
}

// Error returns "<path>:<line>:<col>: <reason>", leaving out the path or the
// position when they are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Col))
		b.WriteByte(':')
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Reason)
	return b.String()
}

// errorAt returns an *Error at byte offset off of the Doc (no position if
// off < 0).
func (d *Doc) errorAt(off int, format string, args ...any) *Error {
	e := &Error{Path: d.path, Reason: fmt.Sprintf(format, args...)}
	if off >= 0 {
		e.Line, e.Col = d.position(off)
	}
	return e
}
