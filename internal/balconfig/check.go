package balconfig

import "strconv"

// The checker enforces TOML's rules on defining keys and tables, which the
// unstable parser leaves to its caller: no key defined twice, no table
// defined twice, no dotted key reopening a table that a header made, nothing
// added from outside to a value or an inline table. It runs in time linear
// in the size of the document, as the index is built. (toml.Unmarshal
// checks the same rules with a linear search per key, quadratic in all:
// FuzzCheck holds the two to the same verdicts, and BenchmarkCheckers
// compares their cost.)

type nodeKind uint8

const (
	kindImplicit nodeKind = iota // a super-table created by a header [a.b] (here: a)
	kindExplicit                 // a table defined by a [header], the root, an inline table
	kindDotted                   // a table created by a dotted key a.b = v (here: a)
	kindArray                    // an array of tables [[a]]
	kindValue                    // any other value
)

type tnode struct {
	kind nodeKind
	last int32 // an array of tables: its current element
	off  int32 // where it was defined, for messages
}

type checker struct {
	d     *Doc
	nodes []tnode
	// children maps a table and a name (see child) to the node of that
	// name in the table. One map of all the tables' children, keyed by
	// two numbers, costs less than a map per table or string keys.
	children map[uint64]int32
	ids      map[string]int32 // the number of each key name seen
	names    []string         // the names, by number
	cur      int32            // the table that key/value lines go to
}

// init readies the checker for a document of size bytes; full says it will
// see all of it, which is worth sizing the tables for.
func (c *checker) init(d *Doc, size int, full bool) {
	// A key every 20 to 40 bytes; a map rounds its size up to a power of
	// two, which leaves room for more.
	hint := 16
	if full {
		hint += size / 32
	}
	c.d = d
	c.nodes = make([]tnode, 1, 2*hint)
	c.nodes[0] = tnode{kind: kindExplicit, off: int32(d.bom)}
	c.children = make(map[uint64]int32, hint)
	c.ids = make(map[string]int32, 16+hint/8)
}

// intern returns the number of a key name; c.names holds the name.
func (c *checker) intern(name []byte) int32 {
	if id, ok := c.ids[string(name)]; ok {
		return id
	}
	s := string(name)
	id := int32(len(c.names))
	c.names = append(c.names, s)
	c.ids[s] = id
	return id
}

// shown writes a key of numbered parts as TOML does.
func (c *checker) shown(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = c.names[id]
	}
	return keyString(parts)
}

func child(parent, name int32) uint64 {
	return uint64(uint32(parent))<<32 | uint64(uint32(name))
}

func (c *checker) add(parent, name int32, n tnode) int32 {
	c.nodes = append(c.nodes, n)
	id := int32(len(c.nodes) - 1)
	if parent >= 0 {
		c.children[child(parent, name)] = id
	}
	return id
}

// anonymous adds a table that no key reaches: an inline table (the key
// holding it is a value) or an element of an array of tables.
func (c *checker) anonymous(off int) int32 {
	return c.add(-1, 0, tnode{kind: kindExplicit, off: int32(off)})
}

// describe says what an existing node is, for an error message.
func (c *checker) describe(id int32) string {
	n := c.nodes[id]
	line, _ := c.d.position(int(n.off))
	at := strconv.Itoa(line)
	switch n.kind {
	case kindImplicit:
		return "a table (created by a header at line " + at + ")"
	case kindExplicit:
		return "a table (its header is at line " + at + ")"
	case kindDotted:
		return "a table defined by dotted keys (at line " + at + ")"
	case kindArray:
		return "an array of tables (since line " + at + ")"
	default:
		return "a value (at line " + at + ")"
	}
}

// header applies a [table] or [[array of tables]] header, whose key parts
// have the numbers ids.
func (c *checker) header(s *section, ids []int32) error {
	t := int32(0)
	for i, name := range ids {
		last := i == len(ids)-1
		shown := func() string { return keyString(s.key[:i+1]) }
		ch, ok := c.children[child(t, name)]
		if !ok {
			switch {
			case !last:
				t = c.add(t, name, tnode{kind: kindImplicit, off: int32(s.start)})
			case s.array:
				arr := c.add(t, name, tnode{kind: kindArray, off: int32(s.start)})
				t = c.anonymous(s.start)
				c.nodes[arr].last = t
			default:
				t = c.add(t, name, tnode{kind: kindExplicit, off: int32(s.start)})
			}
			continue
		}
		n := &c.nodes[ch]
		switch {
		case n.kind == kindValue:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s; a header cannot make it a table", shown(), c.describe(ch))
		case n.kind == kindArray && last && !s.array:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s; write [[%s]] to add an element", shown(), c.describe(ch), shown())
		case n.kind == kindArray && last:
			elem := c.anonymous(s.start)
			c.nodes[ch].last = elem
			t = elem
		case n.kind == kindArray:
			t = n.last
		case last && s.array:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s, not an array of tables", shown(), c.describe(ch))
		case last && n.kind != kindImplicit:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s; merge the two into one table", shown(), c.describe(ch))
		case last:
			n.kind, n.off = kindExplicit, int32(s.start)
			t = ch
		default:
			t = ch
		}
	}
	c.cur = t
	return nil
}

// define adds the key of numbered parts ids, defined at off, to table t as
// a value.
func (c *checker) define(t int32, ids []int32, off int) error {
	for i, name := range ids {
		shown := func() string { return c.shown(ids[:i+1]) }
		ch, ok := c.children[child(t, name)]
		if i == len(ids)-1 {
			if ok {
				return c.d.errorAt(off, "invalid TOML: duplicate key %s: it is already %s; remove one of them", shown(), c.describe(ch))
			}
			c.add(t, name, tnode{kind: kindValue, off: int32(off)})
			break
		}
		switch {
		case !ok:
			t = c.add(t, name, tnode{kind: kindDotted, off: int32(off)})
		case c.nodes[ch].kind != kindDotted:
			return c.d.errorAt(off, "invalid TOML: dotted key %s cannot extend %s", shown(), c.describe(ch))
		default:
			t = ch
		}
	}
	return nil
}
