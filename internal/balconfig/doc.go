package balconfig

import (
	"bytes"
	"errors"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Doc is one Config.toml: its bytes, known to be valid TOML. Get, Set,
// SetTracked, Delete and Unset work on it; Bytes returns the result. A Doc
// is not safe for concurrent use, and neither are its clones alongside it
// (they share what was parsed).
type Doc struct {
	data []byte // never modified in place: an edit makes a new slice
	bom  int    // 3 if data starts with a UTF-8 BOM, else 0
	path string // the file it came from, for errors; "" from Parse
	ix   *index // the last index of data, kept for the next operation
}

// Parse parses a Config.toml. Invalid TOML, including a key or table defined
// twice, is an *Error with the line and column of the problem. A UTF-8 BOM is
// accepted and kept.
func Parse(data []byte) (*Doc, error) {
	return parse(bytes.Clone(data), "")
}

// parse parses data, which the Doc then owns, as the file at path.
func parse(data []byte, path string) (*Doc, error) {
	d := newDoc(data)
	d.path = path
	ix, err := d.index(nil, false)
	if err != nil {
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

// Clone returns a copy of d that is edited on its own: an edit of the copy
// leaves d as it was, and the other way round. It copies no bytes and
// parses nothing.
func (d *Doc) Clone() *Doc {
	c := *d
	return &c
}

// index is what one operation needs to know of a Doc: where its sections
// and the comments before the first table header sit. The pairs of a
// section are read when an operation needs them (see pairs): the parse that
// builds the index checks them all, but keeps none. An index refers to a
// snapshot of the Doc it indexes (d), so that clones of a Doc can share it.
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

// section is the root table or a [table] / [[array of tables]] header, and
// the lines under it.
type section struct {
	key       []string // nil for the root table
	array     bool
	start     int // offset of the header's first '[' (the root: after the BOM)
	lineStart int // start of the header's line
	lineEnd   int // end of the header's line, after its newline if any: where its body starts
	bodyEnd   int // where the next header's line starts, or the end of the file

	read bool      // kvs and last are set
	kvs  []*keyval // the pairs of the body, in order
	last *keyval   // the last of them
}

// keyval is one key/value pair, top-level or inside an inline table. A
// string value is decoded only when asked for (see Doc.str).
type keyval struct {
	key              []string
	start, keyEnd    int // the dotted key
	valStart, valEnd int // the value
	kind             unstable.Kind
	table            *inlineTable // the value when kind is InlineTable
}

// inlineTable is a value `{ k = v, ... }`.
type inlineTable struct {
	open, close int // offsets of '{' and '}'
	kvs         []*keyval
}

// index parses the Doc and indexes the definitions whose full key starts
// with *first, or all of them if first is nil, checking TOML's rules on
// them. With preamble set it stops at the first table header, having read
// only the top-level pairs.
func (d *Doc) index(first *string, preamble bool) (*index, error) {
	d = &Doc{data: d.data, bom: d.bom, path: d.path} // the index's own snapshot
	body := d.data[d.bom:]
	ix := &index{d: d, scope: first, first: -1}
	b := builder{ix: ix, d: d, first: first}
	b.check.init(d, len(body), first == nil && !preamble)
	var p unstable.Parser
	p.KeepComments = true
	p.Reset(body)
	root := &section{start: d.bom, lineStart: d.bom, lineEnd: d.bom}
	ix.sections = []*section{root}
	prev := root // the section whose body the parser is in
	cur := root  // the same, or nil while it is out of scope
loop:
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Comment:
			if ix.first < 0 {
				s := d.bom + int(e.Raw.Offset)
				ix.preamble = append(ix.preamble, span{d.lineStart(s), d.lineEnd(s + int(e.Raw.Length))})
			}
		case unstable.KeyValue:
			if cur == nil || cur == root && !b.inScope(e.Key()) {
				continue
			}
			b.pair(e, b.check.cur)
		case unstable.Table, unstable.ArrayTable:
			start := b.headerStart(e)
			if prev != nil {
				prev.bodyEnd = d.lineStart(start)
				prev = nil
			}
			if ix.first < 0 {
				ix.first = d.lineStart(start)
			}
			if preamble {
				break loop
			}
			if !b.inScope(e.Key()) {
				cur = nil
				continue
			}
			cur = b.header(e, start)
			prev = cur
			ix.sections = append(ix.sections, cur)
		}
		if b.err != nil {
			return nil, b.err
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
	if prev != nil {
		prev.bodyEnd = len(d.data)
	}
	return ix, nil
}

// indexFor returns an index of the Doc that covers the keys whose first
// part is first: the last one if it does, else a new one.
func (d *Doc) indexFor(first string) (*index, error) {
	if ix := d.ix; ix != nil && (ix.scope == nil || *ix.scope == first) {
		return ix, nil
	}
	ix, err := d.index(&first, false)
	if err != nil {
		return nil, err
	}
	d.ix = ix
	return ix, nil
}

// builder runs the checker over the parser's nodes and indexes the
// sections.
type builder struct {
	ix    *index
	d     *Doc
	first *string
	err   error    // the first error found; the build stops there
	keys  []string // backing store of the headers' keys
	ids   []int32  // the checker's numbers of the parts of the key at hand
	check checker
}

// fail records the first error.
func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// inScope reports whether a key (an iterator over its parts) is in scope.
func (b *builder) inScope(it unstable.Iterator) bool {
	if b.first == nil {
		return true
	}
	it.Next()
	return string(it.Node().Data) == *b.first
}

// keyIDs sets b.ids to the numbers of the parts of a node's key.
func (b *builder) keyIDs(e *unstable.Node) {
	b.ids = b.ids[:0]
	for it := e.Key(); it.Next(); {
		b.ids = append(b.ids, b.check.intern(it.Node().Data))
	}
}

// pair checks a KeyValue node defined in the checker's table t.
func (b *builder) pair(e *unstable.Node, t int32) {
	b.keyIDs(e)
	it := e.Key()
	it.Next()
	if err := b.check.define(t, b.ids, b.d.bom+int(it.Node().Raw.Offset)); err != nil {
		b.fail(err)
		return
	}
	b.value(e.Value())
}

// value checks a value: the pairs of an inline table, each a closed table
// of its own; the values in an array; and a scalar's decoding.
func (b *builder) value(v *unstable.Node) {
	switch v.Kind {
	case unstable.String, unstable.Comment:
	case unstable.InlineTable:
		t := b.check.anonymous(b.d.bom + int(v.Raw.Offset))
		for it := v.Children(); it.Next() && b.err == nil; {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				b.pair(c, t)
			}
		}
	case unstable.Array:
		for it := v.Children(); it.Next() && b.err == nil; {
			b.value(it.Node())
		}
	default:
		b.scalar(v)
	}
}

// scalar checks a number, boolean, date or time: the unstable parser only
// scans its shape, toml.Unmarshal also decodes it ("0000-" is no date,
// 99999999999999999999 no integer). Plain numbers pass at once; the rest
// is decoded by go-toml itself, so that both agree.
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
	b.fail(b.d.errorAt(b.d.bom+int(v.Raw.Offset), "invalid TOML: %s", msg))
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

// headerStart returns the offset of the first '[' of a header.
func (b *builder) headerStart(e *unstable.Node) int {
	d := b.d
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

// header indexes and checks a Table or ArrayTable node whose first '[' is
// at start.
func (b *builder) header(e *unstable.Node, start int) *section {
	d := b.d
	s := &section{array: e.Kind == unstable.ArrayTable, start: start}
	b.keyIDs(e)
	if cap(b.keys)-len(b.keys) < len(b.ids) {
		b.keys = make([]string, 0, max(256, len(b.ids)))
	}
	lo := len(b.keys)
	for _, id := range b.ids {
		b.keys = append(b.keys, b.check.names[id])
	}
	s.key = b.keys[lo:len(b.keys):len(b.keys)]
	end := 0
	for it := e.Key(); it.Next(); {
		end = d.bom + int(it.Node().Raw.Offset+it.Node().Raw.Length)
	}
	s.lineStart = d.lineStart(s.start)
	brackets := 1
	if s.array {
		brackets = 2
	}
	s.lineEnd = d.lineEnd(d.skipBlanks(end) + brackets)
	b.fail(b.check.header(s, b.ids))
	return s
}

// pairs reads the pairs of a section's body, once.
func (ix *index) pairs(s *section) (kvs []*keyval, last *keyval) {
	if !s.read {
		r := reader{d: ix.d, base: s.lineEnd}
		var p unstable.Parser
		p.Reset(ix.d.data[s.lineEnd:s.bodyEnd])
		for p.NextExpression() {
			if e := p.Expression(); e.Kind == unstable.KeyValue {
				s.kvs = append(s.kvs, r.keyval(e))
			}
		}
		if p.Error() != nil {
			panic("balconfig: a section body checked earlier does not parse: " + p.Error().Error())
		}
		if n := len(s.kvs); n > 0 {
			s.last = s.kvs[n-1]
		}
		s.read = true
	}
	return s.kvs, s.last
}

// reader turns KeyValue nodes parsed from d.data[base:] into keyvals.
type reader struct {
	d    *Doc
	base int
}

func (r *reader) keyval(e *unstable.Node) *keyval {
	d := r.d
	kv := &keyval{start: -1}
	for it := e.Key(); it.Next(); {
		k := it.Node()
		if kv.start < 0 {
			kv.start = r.base + int(k.Raw.Offset)
		}
		kv.key = append(kv.key, string(k.Data))
		kv.keyEnd = r.base + int(k.Raw.Offset+k.Raw.Length)
	}
	kv.valStart = d.skipBlanks(d.skipBlanks(kv.keyEnd) + 1) // past '='
	kv.valEnd = r.base + int(e.Raw.Offset+e.Raw.Length)
	v := e.Value()
	kv.kind = v.Kind
	if v.Kind == unstable.InlineTable {
		kv.table = &inlineTable{open: kv.valStart, close: kv.valEnd - 1}
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				kv.table.kvs = append(kv.table.kvs, r.keyval(c))
			}
		}
	}
	return kv
}

// str decodes the string value of kv.
func (d *Doc) str(kv *keyval) string {
	v, ok := d.decode(kv.start, kv.valEnd)
	if !ok {
		panic("balconfig: a string checked earlier does not parse")
	}
	return v
}

// decode decodes the string value of the pair `key = "value"` at
// d.data[start:end] (top-level or inside an inline table); ok is false if
// it is not one.
func (d *Doc) decode(start, end int) (string, bool) {
	var p unstable.Parser
	p.Reset(d.data[start:end])
	if !p.NextExpression() || p.Expression().Kind != unstable.KeyValue || p.Expression().Value().Kind != unstable.String {
		return "", false
	}
	v := string(p.Expression().Value().Data)
	if p.NextExpression() || p.Error() != nil {
		return "", false
	}
	return v, true
}

// lineStartOf and lineEndOf give the line(s) of a top-level pair.
func (d *Doc) lineStartOf(kv *keyval) int { return d.lineStart(kv.start) }
func (d *Doc) lineEndOf(kv *keyval) int   { return d.lineEnd(kv.valEnd) }

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
