package balconfig

import (
	"bytes"
	"errors"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// unmarshalCheckLimit is the largest document that is also handed to
// toml.Unmarshal, after Parse and after every edit. go-toml v2.4.3 finds
// duplicate keys with a linear search per key, so its cost grows with the
// square of the number of keys (1 MB of small tables: 0.4 s; 1 MB of
// top-level keys: 1 s). Real Config.toml files are a few KB and get both
// checks; larger ones rely on the linear checker in check.go, which FuzzCheck
// holds to the same verdicts as go-toml.
const unmarshalCheckLimit = 64 << 10

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Doc is one Config.toml: its bytes, known to be valid TOML. Get, Set and
// Delete work on it; Bytes returns the result. A Doc is not safe for
// concurrent use.
type Doc struct {
	data []byte
	bom  int    // 3 if data starts with a UTF-8 BOM, else 0
	path string // the file it came from, for errors; "" from Parse
	ix   *index // the last index of data, kept for the next operation
}

// Parse parses a Config.toml. Invalid TOML, including a key or table defined
// twice, is an *Error with the line and column of the problem. A UTF-8 BOM is
// accepted and kept.
func Parse(data []byte) (*Doc, error) {
	d := newDoc(bytes.Clone(data))
	ix, err := d.index(nil)
	if err != nil {
		return nil, err
	}
	if err := d.unmarshalCheck(); err != nil {
		return nil, err
	}
	d.ix = ix
	return d, nil
}

func newDoc(data []byte) *Doc {
	d := &Doc{data: data}
	if bytes.HasPrefix(data, utf8BOM) {
		d.bom = len(utf8BOM)
	}
	return d
}

// unmarshalCheck runs toml.Unmarshal on a document small enough for it.
func (d *Doc) unmarshalCheck() error {
	body := d.data[d.bom:]
	if len(body) > unmarshalCheckLimit {
		return nil
	}
	var v map[string]any
	err := toml.Unmarshal(body, &v)
	if err == nil {
		return nil
	}
	var derr *toml.DecodeError
	if errors.As(err, &derr) {
		line, col := derr.Position()
		return &Error{Path: d.path, Line: line, Col: col, Reason: "invalid TOML: " + strings.TrimPrefix(derr.Error(), "toml: ")}
	}
	return d.errorAt(-1, "invalid TOML: %v", err)
}

// index is what one operation needs to know of a Doc: where the sections,
// pairs and comments that concern a key path sit.
//
// An index may be limited to the definitions whose full key starts with one
// first part (the first part of the path at hand). TOML's rules on defining
// keys and tables only relate keys that share a first part, so the checker
// run over such an index finds every clash involving that part, and an edit
// made in that part of a valid document needs nothing else checked.
type index struct {
	d        *Doc
	scope    *string    // the first part of the keys indexed; nil: all
	sections []*section // sections[0] is the root table, then the headers in scope
	preamble []span     // full-line comments before the first table header
	first    int        // start of the first table header's line; -1 if there is none
}

type span struct{ start, end int }

// section is the root table or a [table] / [[array of tables]] header with
// the key/value lines under it (those in scope).
type section struct {
	key       []string // nil for the root table
	array     bool
	start     int // offset of the header's first '[' (the root: after the BOM)
	lineStart int // start of the header's line
	lineEnd   int // end of the header's line, after its newline if any
	kvs       []*keyval
	last      *keyval // the last pair of the section, in scope or not (only its offsets)
}

// keyval is one key/value pair, top-level or inside an inline table.
type keyval struct {
	key                []string
	start, keyEnd      int // the dotted key
	valStart, valEnd   int // the value
	kind               unstable.Kind
	str                string         // the decoded value when kind is String
	table              *inlineTable   // the value when kind is InlineTable
	nested             []*inlineTable // inline tables inside an Array value
	lineStart, lineEnd int            // the whole line(s); top-level pairs only
}

// inlineTable is a value `{ k = v, ... }`.
type inlineTable struct {
	open, close int // offsets of '{' and '}'
	kvs         []*keyval
}

// index parses the Doc and indexes the definitions whose full key starts
// with *first, or all of them if first is nil, checking TOML's rules on them.
func (d *Doc) index(first *string) (*index, error) {
	body := d.data[d.bom:]
	ix := &index{d: d, scope: first, first: -1}
	b := builder{ix: ix, body: body, first: first}
	b.check.init(d, len(body), first == nil)
	var p unstable.Parser
	p.KeepComments = true
	p.Reset(body)
	root := &section{start: d.bom, lineStart: d.bom, lineEnd: d.bom}
	ix.sections = []*section{root}
	cur := root // nil while in a section out of scope
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Comment:
			if ix.first < 0 {
				s := d.bom + int(e.Raw.Offset)
				ix.preamble = append(ix.preamble, span{d.lineStart(s), d.lineEnd(s + int(e.Raw.Length))})
			}
		case unstable.KeyValue:
			if cur == nil {
				continue
			}
			if cur == root && !b.inScope(e.Key()) {
				root.last = b.offsetsOnly(e)
				continue
			}
			kv := b.keyval(e)
			kv.lineStart = d.lineStart(kv.start)
			kv.lineEnd = d.lineEnd(kv.valEnd)
			if b.err != nil {
				return nil, b.err
			}
			if err := b.check.keyValue(kv); err != nil {
				return nil, err
			}
			cur.kvs = append(cur.kvs, kv)
			cur.last = kv
		case unstable.Table, unstable.ArrayTable:
			if ix.first < 0 {
				ix.first = d.lineStart(b.headerStart(e))
			}
			if !b.inScope(e.Key()) {
				cur = nil
				continue
			}
			cur = b.header(e)
			if err := b.check.header(cur); err != nil {
				return nil, err
			}
			ix.sections = append(ix.sections, cur)
		}
	}
	if err := p.Error(); err != nil {
		var perr *unstable.ParserError
		if errors.As(err, &perr) {
			off := d.bom + cap(body) - cap(perr.Highlight)
			return nil, d.errorAt(off, "invalid TOML: %s", perr.Message)
		}
		return nil, d.errorAt(-1, "invalid TOML: %v", err)
	}
	return ix, nil
}

// indexFor returns an index of the Doc that covers the keys whose first
// part is first: the last one if it does, else a new one.
func (d *Doc) indexFor(first string) (*index, error) {
	if ix := d.ix; ix != nil && (ix.scope == nil || *ix.scope == first) {
		return ix, nil
	}
	ix, err := d.index(&first)
	if err != nil {
		return nil, err
	}
	d.ix = ix
	return ix, nil
}

// builder turns the parser's nodes into an index. It carves the many small
// objects out of a few large allocations.
type builder struct {
	ix    *index
	body  []byte
	first *string
	err   error     // the first invalid scalar, see scalar
	kvs   []keyval  // slab of pairs
	keys  []string  // backing store of keys
	ptrs  []*keyval // backing store of the inline tables' pair lists
	stack []*keyval // pairs of the inline tables being built
	check checker
}

// inScope reports whether a key (an iterator over its parts) is in scope.
func (b *builder) inScope(it unstable.Iterator) bool {
	if b.first == nil {
		return true
	}
	it.Next()
	return string(it.Node().Data) == *b.first
}

func (b *builder) newKeyval() *keyval {
	if len(b.kvs) == cap(b.kvs) {
		b.kvs = make([]keyval, 0, 64)
	}
	b.kvs = b.kvs[:len(b.kvs)+1]
	return &b.kvs[len(b.kvs)-1]
}

// key collects the parts of a node's key; it returns them with the offsets
// of the key's first and last bytes.
func (b *builder) key(e *unstable.Node) (parts []string, start, end int) {
	lo := len(b.keys)
	start = -1
	for it := e.Key(); it.Next(); {
		k := it.Node()
		if start < 0 {
			start = b.ix.d.bom + int(k.Raw.Offset)
		}
		b.keys = append(b.keys, string(k.Data))
		end = b.ix.d.bom + int(k.Raw.Offset+k.Raw.Length)
	}
	return b.keys[lo:len(b.keys):len(b.keys)], start, end
}

// offsetsOnly records where a pair out of scope sits, without its key and
// value: a new top-level key may go after it.
func (b *builder) offsetsOnly(e *unstable.Node) *keyval {
	d := b.ix.d
	kv := b.newKeyval()
	kv.start = -1
	for it := e.Key(); it.Next(); {
		k := it.Node()
		if kv.start < 0 {
			kv.start = d.bom + int(k.Raw.Offset)
		}
		kv.keyEnd = d.bom + int(k.Raw.Offset+k.Raw.Length)
	}
	kv.valStart = d.skipBlanks(d.skipBlanks(kv.keyEnd) + 1)
	kv.valEnd = d.bom + int(e.Raw.Offset+e.Raw.Length)
	kv.lineStart = d.lineStart(kv.start)
	kv.lineEnd = d.lineEnd(kv.valEnd)
	return kv
}

// keyval indexes a KeyValue node.
func (b *builder) keyval(e *unstable.Node) *keyval {
	d := b.ix.d
	kv := b.newKeyval()
	kv.key, kv.start, kv.keyEnd = b.key(e)
	kv.valStart = d.skipBlanks(d.skipBlanks(kv.keyEnd) + 1) // past '='
	kv.valEnd = d.bom + int(e.Raw.Offset+e.Raw.Length)
	v := e.Value()
	kv.kind = v.Kind
	switch v.Kind {
	case unstable.String:
		kv.str = string(v.Data)
	case unstable.InlineTable:
		kv.table = b.inlineTable(v, kv.valStart, kv.valEnd)
	case unstable.Array:
		kv.nested = b.arrayTables(v, kv.nested)
	default:
		b.scalar(v)
	}
	return kv
}

// scalar checks a number, boolean, date or time: the unstable parser only
// scans its shape, toml.Unmarshal also decodes it ("0000-" is no date,
// 99999999999999999999 no integer). Plain numbers pass at once; the rest
// is decoded by go-toml itself, so that both agree. The first error found
// is kept in b.err.
func (b *builder) scalar(v *unstable.Node) {
	if b.err != nil || v.Kind == unstable.Bool || plainNumber(v.Data) {
		return
	}
	var m map[string]any
	err := toml.Unmarshal(append([]byte("v="), v.Data...), &m)
	if err == nil {
		return
	}
	msg := err.Error()
	var derr *toml.DecodeError
	if errors.As(err, &derr) {
		msg = strings.TrimPrefix(derr.Error(), "toml: ")
	}
	b.err = b.ix.d.errorAt(b.ix.d.bom+int(v.Raw.Offset), "invalid TOML: %s", msg)
}

// plainNumber reports whether raw is an integer of at most 18 digits or a
// decimal fraction of at most 30 digits, without leading zeros: numbers that
// always decode.
func plainNumber(raw []byte) bool {
	if len(raw) == 0 || len(raw) > 30 {
		return false
	}
	digits, dot := 0, -1
	for i, c := range raw {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && dot < 0 && i > 0 && i < len(raw)-1:
			dot = i
		default:
			return false
		}
	}
	intPart := raw
	if dot >= 0 {
		intPart = raw[:dot]
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return false
	}
	return dot >= 0 || digits <= 18
}

// inlineTable indexes an InlineTable node spanning [start, end).
func (b *builder) inlineTable(v *unstable.Node, start, end int) *inlineTable {
	t := &inlineTable{open: start, close: end - 1}
	lo := len(b.stack)
	for it := v.Children(); it.Next(); {
		if c := it.Node(); c.Kind == unstable.KeyValue {
			b.stack = append(b.stack, b.keyval(c))
		}
	}
	n := len(b.ptrs)
	b.ptrs = append(b.ptrs, b.stack[lo:]...)
	t.kvs = b.ptrs[n:len(b.ptrs):len(b.ptrs)]
	b.stack = b.stack[:lo]
	return t
}

// arrayTables collects the inline tables inside an Array node, for the
// checker: they cannot be edited, but their keys must be unique. It checks
// the scalars in it too.
func (b *builder) arrayTables(v *unstable.Node, dst []*inlineTable) []*inlineTable {
	for it := v.Children(); it.Next(); {
		switch c := it.Node(); c.Kind {
		case unstable.Array:
			dst = b.arrayTables(c, dst)
		case unstable.InlineTable:
			// The parser gives where an inline table starts, not where it
			// ends, which the checker does not need.
			off := b.ix.d.bom + int(c.Raw.Offset)
			dst = append(dst, b.inlineTable(c, off, off+1))
		case unstable.String, unstable.Comment:
		default:
			b.scalar(c)
		}
	}
	return dst
}

// headerStart returns the offset of the first '[' of a header.
func (b *builder) headerStart(e *unstable.Node) int {
	d := b.ix.d
	it := e.Key()
	it.Next()
	i := d.bom + int(it.Node().Raw.Offset) - 1
	for d.data[i] == ' ' || d.data[i] == '\t' {
		i--
	}
	if e.Kind == unstable.ArrayTable {
		i--
	}
	return i
}

// header indexes a Table or ArrayTable node.
func (b *builder) header(e *unstable.Node) *section {
	d := b.ix.d
	s := &section{array: e.Kind == unstable.ArrayTable}
	var end int
	s.key, _, end = b.key(e)
	s.start = b.headerStart(e)
	s.lineStart = d.lineStart(s.start)
	brackets := 1
	if s.array {
		brackets = 2
	}
	s.lineEnd = d.lineEnd(d.skipBlanks(end) + brackets)
	return s
}

func (d *Doc) skipBlanks(i int) int {
	for i < len(d.data) && (d.data[i] == ' ' || d.data[i] == '\t') {
		i++
	}
	return i
}

// lineStart returns the start of the line holding the expression at off,
// which only blanks precede on its line.
func (d *Doc) lineStart(off int) int {
	for off > d.bom && (d.data[off-1] == ' ' || d.data[off-1] == '\t') {
		off--
	}
	return off
}

// lineEnd returns the end of the line whose expression ends at off: past the
// blanks, a trailing comment and the newline, if any.
func (d *Doc) lineEnd(off int) int {
	off = d.skipBlanks(off)
	if off < len(d.data) && d.data[off] == '#' {
		if i := bytes.IndexByte(d.data[off:], '\n'); i >= 0 {
			return off + i + 1
		}
		return len(d.data)
	}
	switch {
	case off < len(d.data) && d.data[off] == '\n':
		return off + 1
	case off+1 < len(d.data) && d.data[off] == '\r' && d.data[off+1] == '\n':
		return off + 2
	}
	return off
}

// position returns the 1-based line and byte column of off. Columns count
// bytes, as go-toml's do; the BOM is not part of line 1.
func (d *Doc) position(off int) (line, col int) {
	off = max(d.bom, min(off, len(d.data)))
	body := d.data[d.bom:off]
	line = 1 + bytes.Count(body, []byte{'\n'})
	col = len(body) - (bytes.LastIndexByte(body, '\n') + 1) + 1
	return line, col
}

// Bytes returns the document's bytes, with every edit applied. The slice is
// a copy.
func (d *Doc) Bytes() []byte {
	return bytes.Clone(d.data)
}

// eol returns the line ending of the file: CRLF when most of its lines end
// with one, else LF (also for a file with a single line or none).
func (d *Doc) eol() string {
	lf := bytes.Count(d.data, []byte{'\n'})
	crlf := bytes.Count(d.data, []byte("\r\n"))
	if crlf > lf-crlf {
		return "\r\n"
	}
	return "\n"
}
