package balconfig

import (
	"bytes"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// target is where a key path lands in a Doc.
type target struct {
	kv     *keyval      // the pair at the path, if there is one
	in     *inlineTable // the inline table holding kv, or receiving the new key
	holder *section     // the section whose body holds kv

	// Where a new key goes when there is no pair at the path and in is nil:
	// after anchor's line; else after section's header; else in a new table.
	anchor  *keyval
	section *section

	// base is how many parts of the path the container covers: the key
	// written into it is path[base:].
	base int
}

// lookup finds path in d, or where it would go. It refuses a path that
// reaches into an array of tables, passes through a value that is not a
// table, or names a table.
func (ix *index) lookup(path []string, verb string) (*target, error) {
	d := ix.d
	t := &target{}
	for _, s := range ix.sections {
		if s.array {
			if hasPrefix(path, s.key) {
				if len(path) == len(s.key) {
					return nil, d.errorAt(s.start, "cannot %s %s: it names an array of tables ([[%s]]), not a string; choose another key path",
						verb, keyString(path), keyString(s.key))
				}
				return nil, d.errorAt(s.start, "cannot %s %s: %s is an array of tables ([[%s]]) and a key path cannot pick one of its elements; choose a key outside it",
					verb, keyString(path), keyString(s.key), keyString(s.key))
			}
			if hasPrefix(s.key, path) {
				return nil, d.namesTable(s.start, path, verb)
			}
			continue
		}
		if len(s.key) > 0 && hasPrefix(s.key, path) {
			return nil, d.namesTable(s.start, path, verb)
		}
		if !hasPrefix(path, s.key) {
			continue
		}
		base := len(s.key)
		kvs, last := ix.pairs(s)
		if len(path)-base == 1 {
			// The section is the path's parent table: a new key goes after
			// its last pair, or after its header.
			t.section, t.anchor, t.base = s, last, base
		}
		r, done, err := d.scan(kvs, base, path, verb)
		if err != nil {
			return nil, err
		}
		if done {
			r.holder = s
			return r, nil
		}
		if r.anchor != nil {
			t.anchor, t.base = r.anchor, base
		}
	}
	return t, nil
}

// scan looks for path[base:] among the pairs of one table. done reports that
// the result is final: the pair was found, or the path enters an inline
// table. Otherwise r.anchor is the last pair that sits in the path's parent
// table, if any.
func (d *Doc) scan(kvs []*keyval, base int, path []string, verb string) (r *target, done bool, err error) {
	rel := path[base:]
	r = &target{}
	for _, kv := range kvs {
		c := commonPrefix(kv.key, rel)
		switch {
		case c == len(kv.key) && c == len(rel):
			r.kv = kv
			return r, true, nil
		case c == len(kv.key):
			if kv.table == nil {
				return nil, true, d.errorAt(kv.valStart, "cannot %s %s: %s holds %s, not a table; choose another key path",
					verb, keyString(path), keyString(path[:base+c]), kindName(kv.kind))
			}
			inner, done, err := d.scan(kv.table.kvs, base+c, path, verb)
			switch {
			case err != nil:
				return nil, true, err
			case !done:
				return &target{in: kv.table, base: base + c}, true, nil
			case inner.kv != nil && inner.in == nil:
				inner.in = kv.table
			}
			return inner, true, nil
		case c == len(rel):
			return nil, true, d.namesTable(kv.start, path, verb)
		}
		if c == len(rel)-1 && c > 0 {
			r.anchor = kv // in the dotted table that is the path's parent
		}
	}
	return r, false, nil
}

func (d *Doc) namesTable(off int, path []string, verb string) error {
	return d.errorAt(off, "cannot %s %s: it names a table, not a string; give the dotted path of a key inside it (%s.<key>)",
		verb, keyString(path), keyString(path))
}

func (d *Doc) notString(kv *keyval, path []string, verb string) error {
	if kv.kind == unstable.InlineTable {
		return d.namesTable(kv.valStart, path, verb)
	}
	return d.errorAt(kv.valStart, "cannot %s %s: it holds %s, not a string; remove that line or choose another key path",
		verb, keyString(path), kindName(kv.kind))
}

func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "an inline table"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time"
	default:
		return "a date-time"
	}
}

func hasPrefix(s, prefix []string) bool {
	return len(prefix) <= len(s) && slices.Equal(s[:len(prefix)], prefix)
}

func commonPrefix(a, b []string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// keyPath parses a key path for d, naming d's file in the error.
func (d *Doc) keyPath(s string) ([]string, error) {
	path, err := parseKeyPath(s)
	if err != nil {
		err.(*Error).Path = d.path
	}
	return path, err
}

// Get returns the string at keyPath (see Set for its syntax). found is
// false when the file has no such key. A value that is not a string, or a
// path that names a table or passes through a value or an array of tables,
// is an *Error.
func (d *Doc) Get(keyPath string) (value string, found bool, err error) {
	path, err := d.keyPath(keyPath)
	if err != nil {
		return "", false, err
	}
	return d.get(path)
}

func (d *Doc) get(path []string) (string, bool, error) {
	ix, err := d.indexFor(path[0])
	if err != nil {
		return "", false, err
	}
	return ix.get(path)
}

func (ix *index) get(path []string) (string, bool, error) {
	d := ix.d
	t, err := ix.lookup(path, "read")
	if err != nil {
		return "", false, err
	}
	if t.kv == nil {
		return "", false, nil
	}
	if t.kv.kind != unstable.String {
		return "", false, d.notString(t.kv, path, "read")
	}
	return d.str(t.kv), true, nil
}

// Set writes value as the string at keyPath, in place: every other byte of
// the file stays as it was.
//
// keyPath is a dotted key as TOML writes one: `token`, `myorg.app.token`,
// `a."b.c".d`; a part quoted in the file ("token" or 'token') is the same key
// as the bare one. The value is written as a TOML basic string on one line;
// an existing string of any kind (literal, basic, multi-line) is replaced by
// it, and an equal string is left alone.
//
// A missing key is inserted:
//   - a top-level key goes after the last top-level key/value line; if there
//     is none, before the first table header, above the comment lines that
//     touch the header and followed by a blank line; in a file without
//     headers, at the end, after a blank line if the file ends with text;
//   - a key of an existing table goes after the table's last key/value line
//     (after its header if it has none), in the indentation and `=` spacing
//     of that line; a table made by dotted keys gets a dotted key the same
//     way, and an inline table gets `, key = "value"` before its `}`;
//   - a key of a missing table is appended as a new [table] header with the
//     key under it, after a blank line.
//
// New lines use the file's line ending. A file that lacks a final newline
// still lacks one after an append.
//
// Set refuses, with an *Error and the Doc unchanged, a key path that names
// a table, reaches into an array of tables, passes through a value that is
// not a table or holds a value that is not a string, and a value that is not
// valid UTF-8.
func (d *Doc) Set(keyPath, value string) error {
	_, err := d.SetTracked(keyPath, value)
	return err
}

// Created is what a Set added to a Config.toml, for Unset to take away
// again: Key is true if the key did not exist, and Table is the [table]
// header it had to add, as a TOML dotted key (`myorg.app`), or "". The zero
// Created is an edit of a key that was there. It is meant to be stored as
// JSON next to the token, from the first Set of the key: a later Set of the
// same key finds it there and returns the zero Created.
type Created struct {
	Key   bool   `json:"key,omitempty"`
	Table string `json:"table,omitempty"`
}

// SetTracked is Set, and reports what the edit created.
func (d *Doc) SetTracked(keyPath, value string) (Created, error) {
	path, err := d.keyPath(keyPath)
	if err != nil {
		return Created{}, err
	}
	if !validUTF8(value) {
		return Created{}, d.errorAt(-1, "cannot set %s: the value is not valid UTF-8", keyString(path))
	}
	ix, err := d.indexFor(path[0])
	if err != nil {
		return Created{}, err
	}
	t, err := ix.lookup(path, "set")
	if err != nil {
		return Created{}, err
	}
	c := Created{Key: t.kv == nil}
	var at, end int
	var text string
	switch {
	case t.kv != nil:
		if t.kv.kind != unstable.String {
			return Created{}, d.notString(t.kv, path, "set")
		}
		if d.str(t.kv) == value {
			return Created{}, nil
		}
		return Created{}, d.replace(path, t, value)
	case t.in != nil:
		at, end, text = d.insertInline(t.in, path[t.base:], value)
	case t.anchor != nil:
		a := t.anchor
		indent := string(d.data[d.lineStartOf(a):a.start])
		at, text = d.afterLine(d.lineEndOf(a), indent+keyString(path[t.base:])+d.separator(a)+quote(value))
		end = at
	case t.section != nil && len(t.section.key) > 0:
		at, text = d.afterLine(t.section.lineEnd, keyString(path[t.base:])+" = "+quote(value))
		end = at
	case t.section != nil:
		at, text = ix.insertTopLevel(keyString(path) + " = " + quote(value))
		end = at
	default:
		eol := d.eol()
		c.Table = keyString(path[:len(path)-1])
		at, text = d.appendAtEnd("["+c.Table+"]"+eol+keyString(path[len(path)-1:])+" = "+quote(value), true)
		end = at
	}
	err = d.apply(path, []edit{{at, end, text}}, func(nix *index) bool {
		v, ok, err := nix.get(path)
		return err == nil && ok && v == value
	})
	if err != nil {
		return Created{}, err
	}
	return c, nil
}

// replace writes value over the string of t.kv, the edit of every refresh.
// Only the bytes of one value change, in the body of one section: if that
// body still parses, so does the whole document (the rest of it is the same
// bytes, parsed from the same state, the start of a line) with the same
// keys; so the body is re-parsed alone, and the new value read back. The
// next operation indexes the Doc again.
func (d *Doc) replace(path []string, t *target, value string) error {
	kv, s := t.kv, t.holder
	text := quote(value)
	delta := len(text) - (kv.valEnd - kv.valStart)
	data := make([]byte, 0, len(d.data)+delta)
	data = append(data, d.data[:kv.valStart]...)
	data = append(data, text...)
	data = append(data, d.data[kv.valEnd:]...)
	var p unstable.Parser
	p.Reset(data[s.lineEnd : s.bodyEnd+delta])
	for p.NextExpression() {
	}
	nd := &Doc{data: data, bom: d.bom, path: d.path}
	if err := p.Error(); err != nil {
		return d.errorAt(kv.valStart, "internal error: editing %s would make the file invalid (%v); the file was left as it was, please report this", keyString(path), err)
	}
	if v, ok := nd.decode(kv.start, kv.valStart+len(text)); !ok || v != value {
		return d.errorAt(kv.valStart, "internal error: editing %s did not take effect; the file was left as it was, please report this", keyString(path))
	}
	*d = *nd
	return nil
}

// Unset takes back a value Set wrote at keyPath, as c (what that Set
// created) says.
//
// A key that existed before is blanked: its value is replaced by "", every
// other byte of its line kept, a trailing comment included, so that a
// program that declares the key (`configurable string token = ?;`) still
// finds it.
//
// A key the Set created is deleted (see Delete), with the blank line Set
// put next to it if it stands between blank lines (or the start or end of
// the file); and the table header the Set created goes too, with one blank
// line next to it, once nothing but blank lines sit under it (no key, no
// comment; a [table.sub] header elsewhere needs no [table] header). Unset
// right after SetTracked gives back the bytes of before, except that a file
// that ended with a blank line may lose it.
//
// changed reports whether the bytes changed; a key that is gone already, or
// blank already, is no error. The errors are those of Get and Delete.
func (d *Doc) Unset(keyPath string, c Created) (changed bool, err error) {
	if !c.Key {
		v, found, err := d.Get(keyPath)
		if err != nil || !found || v == "" {
			return false, err
		}
		return true, d.Set(keyPath, "")
	}
	changed, err = d.remove(keyPath, true)
	if err != nil || c.Table == "" {
		return changed, err
	}
	removed, err := d.removeEmptyTable(c.Table)
	return changed || removed, err
}

// removeEmptyTable removes the header [table] if nothing but blank lines
// sit under it, with one blank line: the one before it at the end of the
// file, else the one after it, if any.
func (d *Doc) removeEmptyTable(table string) (bool, error) {
	path, err := d.keyPath(table)
	if err != nil {
		return false, err
	}
	ix, err := d.indexFor(path[0])
	if err != nil {
		return false, err
	}
	// A header [table.sub] elsewhere makes no difference: it defines table
	// without this header too.
	var s *section
	for _, o := range ix.sections[1:] {
		if slices.Equal(o.key, path) && !o.array {
			s = o
		}
	}
	if s == nil || !isBlank(d.data[s.lineEnd:s.bodyEnd]) {
		return false, nil
	}
	at, end := s.lineStart, s.lineEnd
	switch {
	case s.bodyEnd == len(d.data) && at > d.bom:
		// The end of the file, where Set puts a new table after a blank
		// line: that blank line goes too.
		prev := d.bom
		if i := bytes.LastIndexByte(d.data[d.bom:at-1], '\n'); i >= 0 {
			prev = d.bom + i + 1
		}
		if isBlank(d.data[prev:at]) {
			at = prev
		}
	case end < s.bodyEnd:
		// More follows, after a blank line: that blank line goes instead.
		end += bytes.IndexByte(d.data[end:s.bodyEnd], '\n') + 1
	}
	if end == len(d.data) && d.data[end-1] != '\n' && at > d.bom {
		// The last line of a file without a final newline: the newline
		// before it goes instead, so that the file still lacks one.
		at--
		if at > d.bom && d.data[at-1] == '\r' {
			at--
		}
	}
	err = d.apply(path, []edit{{at, end, ""}}, func(nix *index) bool {
		for _, o := range nix.sections {
			if slices.Equal(o.key, path) {
				return false
			}
		}
		return true
	})
	return err == nil, err
}

// Delete removes the key/value pair at keyPath (see Set for its syntax) and
// reports whether there was one: its whole line, with a trailing comment,
// or its entry in an inline table. Every other byte stays as it was; a file
// that lacks a final newline still lacks one. It refuses, with an *Error, a
// value that is not a string and a path that names a table or passes through
// a value or an array of tables.
func (d *Doc) Delete(keyPath string) (deleted bool, err error) {
	return d.remove(keyPath, false)
}

// remove is Delete; with collapse, a top-level pair whose line has a blank
// line (or the start or end of the file) on each side takes one of those
// blank lines with it: the blank line Set adds next to a new line that has
// no neighbours.
func (d *Doc) remove(keyPath string, collapse bool) (deleted bool, err error) {
	path, err := d.keyPath(keyPath)
	if err != nil {
		return false, err
	}
	ix, err := d.indexFor(path[0])
	if err != nil {
		return false, err
	}
	t, err := ix.lookup(path, "delete")
	if err != nil {
		return false, err
	}
	if t.kv == nil {
		return false, nil
	}
	if t.kv.kind != unstable.String {
		return false, d.notString(t.kv, path, "delete")
	}
	var edits []edit
	if t.in != nil {
		edits = d.inlineRemoval(t.in, t.kv)
	} else {
		at, end := d.lineRemoval(t.kv, collapse)
		edits = []edit{{at, end, ""}}
	}
	err = d.apply(path, edits, func(nix *index) bool {
		_, ok, err := nix.get(path)
		return err == nil && !ok
	})
	return err == nil, err
}

// edit replaces data[at:end] with text.
type edit struct {
	at, end int
	text    string
}

// apply makes the edits (in order, not overlapping) and re-parses the whole
// result: it keeps it only if it is valid TOML (all of its syntax, and
// TOML's rules on defining keys for the keys sharing the path's first part:
// the only ones the edit can clash with) and ok accepts it. Failing that is
// a bug, reported as such.
func (d *Doc) apply(path []string, edits []edit, ok func(*index) bool) error {
	size := len(d.data)
	for _, e := range edits {
		size += len(e.text) - (e.end - e.at)
	}
	data := make([]byte, 0, size)
	prev := 0
	for _, e := range edits {
		data = append(data, d.data[prev:e.at]...)
		data = append(data, e.text...)
		prev = e.end
	}
	data = append(data, d.data[prev:]...)
	at := edits[0].at
	nd := newDoc(data)
	nd.path = d.path
	nix, err := nd.index(&path[0], false)
	if err != nil {
		return d.errorAt(at, "internal error: editing %s would make the file invalid (%s); the file was left as it was, please report this",
			keyString(path), strings.TrimPrefix(err.(*Error).Reason, "invalid TOML: "))
	}
	if !ok(nix) {
		return d.errorAt(at, "internal error: editing %s did not take effect; the file was left as it was, please report this", keyString(path))
	}
	nd.ix = nix
	*d = *nd
	return nil
}

// separator returns the '=' to write a new pair in the style of kv: with a
// space on a side where kv has blanks, none where it has none. (Only one
// space: more usually aligns kv's value with its neighbours'.)
func (d *Doc) separator(kv *keyval) string {
	sep := "="
	if kv.keyEnd < len(d.data) && d.data[kv.keyEnd] != '=' {
		sep = " " + sep
	}
	if kv.valStart > 0 && d.data[kv.valStart-1] != '=' {
		sep += " "
	}
	return sep
}

// afterLine inserts line after the line that ends at lineEnd.
func (d *Doc) afterLine(lineEnd int, line string) (int, string) {
	eol := d.eol()
	if lineEnd > d.bom && d.data[lineEnd-1] == '\n' {
		return lineEnd, line + eol
	}
	// The last line of a file without a final newline.
	return lineEnd, eol + line
}

// insertTopLevel places a top-level line in a file without top-level pairs.
func (ix *index) insertTopLevel(line string) (int, string) {
	d := ix.d
	if ix.first < 0 {
		return d.appendAtEnd(line, true)
	}
	at := ix.first
	for i := len(ix.preamble) - 1; i >= 0 && ix.preamble[i].end == at; i-- {
		at = ix.preamble[i].start
	}
	eol := d.eol()
	return at, line + eol + eol
}

// appendAtEnd appends text (one or more lines) at the end of the file, after
// a newline if the file lacks a final one, and after a blank line if blank
// is set and the file ends with text.
func (d *Doc) appendAtEnd(text string, blank bool) (int, string) {
	eol := d.eol()
	body := d.data[d.bom:]
	if len(body) == 0 {
		return len(d.data), text + eol
	}
	final := body[len(body)-1] == '\n'
	var prefix string
	if !final {
		prefix = eol
	}
	if blank && !endsWithBlankLine(string(body)+prefix) {
		prefix += eol
	}
	text = prefix + text
	if final {
		text += eol
	}
	return len(d.data), text
}

// endsWithBlankLine reports whether s, which ends with a newline, ends with
// a line of blanks, or holds nothing but blanks.
func endsWithBlankLine(s string) bool {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	i := strings.LastIndexByte(s, '\n')
	return strings.TrimLeft(s[i+1:], " \t") == ""
}

// insertInline adds `key = "value"` to an inline table, after its last
// pair: it returns the bytes to replace and the replacement.
func (d *Doc) insertInline(t *inlineTable, key []string, value string) (at, end int, text string) {
	pair := keyString(key) + " = " + quote(value)
	n := len(t.kvs)
	if n == 0 {
		if strings.Trim(string(d.data[t.open+1:t.close]), " \t") == "" {
			return t.open + 1, t.close, " " + pair + " " // "{}" becomes "{ key = "value" }"
		}
		return t.open + 1, t.open + 1, pair // before the comments of a multi-line table
	}
	last := t.kvs[n-1]
	pair = keyString(key) + d.separator(last) + quote(value)
	sep := ", "
	if n > 1 {
		gap := string(d.data[t.kvs[n-2].valEnd:last.start])
		if strings.Count(gap, ",") == 1 && strings.Trim(gap, " \t\r\n,") == "" && strings.HasPrefix(strings.TrimLeft(gap, " \t"), ",") {
			sep = strings.TrimLeft(gap, " \t")
		}
	}
	return last.valEnd, last.valEnd, sep + pair
}

// lineRemoval returns the bytes to cut to delete a top-level pair: its
// lines. For the last line of a file without a final newline, the newline
// before it goes instead, so that the file still lacks one.
func (d *Doc) lineRemoval(kv *keyval, collapse bool) (int, int) {
	at, end := d.lineStartOf(kv), d.lineEndOf(kv)
	if collapse {
		prev, next := d.bom, len(d.data) // the lines before and after
		if at > d.bom {
			if i := bytes.LastIndexByte(d.data[d.bom:at-1], '\n'); i >= 0 {
				prev = d.bom + i + 1
			}
		}
		if i := bytes.IndexByte(d.data[end:], '\n'); i >= 0 {
			next = end + i + 1
		}
		blankBefore := at > d.bom && isBlank(d.data[prev:at])
		blankAfter := end < len(d.data) && isBlank(d.data[end:next])
		switch {
		case (blankBefore || at == d.bom) && blankAfter:
			end = next
		case blankBefore && end == len(d.data):
			at = prev
		}
	}
	if end == len(d.data) && (end == d.bom || d.data[end-1] != '\n') && at > d.bom {
		at-- // the '\n' ending the previous line
		if at > d.bom && d.data[at-1] == '\r' {
			at--
		}
	}
	return at, end
}

// inlineRemoval returns the cuts that delete a pair from an inline table,
// with one of the commas around it. In a table spread over lines (TOML 1.1),
// a pair on a line of its own goes with its line.
func (d *Doc) inlineRemoval(t *inlineTable, kv *keyval) []edit {
	i := slices.Index(t.kvs, kv)
	n := len(t.kvs)
	commaOnLine := d.data[d.skipBlanks(kv.valEnd)] == ','
	if ls, le, own := d.ownLine(kv); own {
		switch {
		case commaOnLine || n == 1:
			return []edit{{ls, le, ""}}
		case i == n-1:
			c := d.commaAfter(t.kvs[i-1].valEnd)
			return []edit{{c, c + 1, ""}, {ls, le, ""}}
		}
	}
	switch {
	case n == 1:
		at, end := kv.start, kv.valEnd
		if commaOnLine {
			end = d.skipBlanks(end) + 1 // a trailing comma
		}
		if strings.Trim(string(d.data[t.open+1:at]), " \t") == "" && strings.Trim(string(d.data[end:t.close]), " \t") == "" {
			return []edit{{t.open + 1, t.close, ""}} // "{ k = v }" becomes "{}"
		}
		return []edit{{at, end, ""}}
	case i < n-1:
		return []edit{{kv.start, t.kvs[i+1].start, ""}}
	default:
		// From the comma after the previous pair, past any blanks.
		return []edit{{d.commaAfter(t.kvs[i-1].valEnd), kv.valEnd, ""}}
	}
}

// ownLine reports whether a pair of an inline table has its line to itself
// (and a trailing comma or comment), and returns the line.
func (d *Doc) ownLine(kv *keyval) (start, end int, own bool) {
	start = d.lineStart(kv.start)
	if start == d.bom || d.data[start-1] != '\n' {
		return 0, 0, false
	}
	j := d.skipBlanks(kv.valEnd)
	if d.data[j] == ',' {
		j++
	}
	end = d.lineEnd(j)
	if end == j || d.data[end-1] != '\n' {
		return 0, 0, false
	}
	return start, end, true
}

// commaAfter returns the offset of the first ',' at or after off that is
// not inside a comment.
func (d *Doc) commaAfter(off int) int {
	for off < len(d.data) {
		switch d.data[off] {
		case ',':
			return off
		case '#':
			for off < len(d.data) && d.data[off] != '\n' {
				off++
			}
		default:
			off++
		}
	}
	return off
}

// isBlank reports whether b holds only blanks and line breaks.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
