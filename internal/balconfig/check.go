package balconfig

import "strconv"

// The checker enforces TOML's rules on defining keys and tables, which the
// unstable parser leaves to its caller: no key defined twice, no table
// defined twice, no dotted key reopening a table that a header made, nothing
// added from outside to a value or an inline table. It does in linear time
// what toml.Unmarshal does in quadratic time (see unmarshalCheckLimit), and
// FuzzCheck holds both to the same verdicts.

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
	off  int   // where it was defined, for messages
	last int32 // an array of tables: its current element
}

// childKey names the child name of table parent. One map of all the tables'
// children costs less than a map per table.
type childKey struct {
	parent int32
	name   string
}

type checker struct {
	d        *Doc
	nodes    []tnode
	children map[childKey]int32
	cur      int32 // the table that key/value lines go to
}

// init readies the checker for a document of size bytes; full says it will
// see all of it, which is worth sizing the tables for.
func (c *checker) init(d *Doc, size int, full bool) {
	hint := 16
	if full {
		hint += size / 32
	}
	c.d = d
	c.nodes = make([]tnode, 1, hint)
	c.nodes[0] = tnode{kind: kindExplicit, off: d.bom}
	c.children = make(map[childKey]int32, hint)
}

func (c *checker) add(parent int32, name string, n tnode) int32 {
	c.nodes = append(c.nodes, n)
	id := int32(len(c.nodes) - 1)
	if parent >= 0 {
		c.children[childKey{parent, name}] = id
	}
	return id
}

// describe says what an existing node is, for an error message.
func (c *checker) describe(id int32) string {
	n := c.nodes[id]
	line, _ := c.d.position(n.off)
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

// header applies a [table] or [[array of tables]] header.
func (c *checker) header(s *section) error {
	t := int32(0)
	for i, name := range s.key {
		last := i == len(s.key)-1
		shown := func() string { return keyString(s.key[:i+1]) }
		child, ok := c.children[childKey{t, name}]
		if !ok {
			switch {
			case !last:
				t = c.add(t, name, tnode{kind: kindImplicit, off: s.start})
			case s.array:
				arr := c.add(t, name, tnode{kind: kindArray, off: s.start})
				t = c.add(-1, "", tnode{kind: kindExplicit, off: s.start})
				c.nodes[arr].last = t
			default:
				t = c.add(t, name, tnode{kind: kindExplicit, off: s.start})
			}
			continue
		}
		n := &c.nodes[child]
		switch {
		case n.kind == kindValue:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s; a header cannot make it a table", shown(), c.describe(child))
		case n.kind == kindArray && last && !s.array:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s; write [[%s]] to add an element", shown(), c.describe(child), shown())
		case n.kind == kindArray && last:
			elem := c.add(-1, "", tnode{kind: kindExplicit, off: s.start})
			c.nodes[child].last = elem
			t = elem
		case n.kind == kindArray:
			t = n.last
		case last && s.array:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s, not an array of tables", shown(), c.describe(child))
		case last && n.kind != kindImplicit:
			return c.d.errorAt(s.start, "invalid TOML: %s is already %s; merge the two into one table", shown(), c.describe(child))
		case last:
			n.kind, n.off = kindExplicit, s.start
			t = child
		default:
			t = child
		}
	}
	c.cur = t
	return nil
}

// keyValue applies a top-level key/value line.
func (c *checker) keyValue(kv *keyval) error {
	return c.define(c.cur, kv)
}

// define adds the pair kv to table t, then checks its value.
func (c *checker) define(t int32, kv *keyval) error {
	for i, name := range kv.key {
		shown := func() string { return keyString(kv.key[:i+1]) }
		child, ok := c.children[childKey{t, name}]
		if i == len(kv.key)-1 {
			if ok {
				return c.d.errorAt(kv.start, "invalid TOML: duplicate key %s: it is already %s; remove one of them", shown(), c.describe(child))
			}
			c.add(t, name, tnode{kind: kindValue, off: kv.start})
			break
		}
		switch {
		case !ok:
			t = c.add(t, name, tnode{kind: kindDotted, off: kv.start})
		case c.nodes[child].kind != kindDotted:
			return c.d.errorAt(kv.start, "invalid TOML: dotted key %s cannot extend %s", shown(), c.describe(child))
		default:
			t = child
		}
	}
	if kv.table != nil {
		if err := c.inline(kv.table, kv.valStart); err != nil {
			return err
		}
	}
	for _, it := range kv.nested {
		if err := c.inline(it, it.open); err != nil {
			return err
		}
	}
	return nil
}

// inline checks an inline table: a closed table of its own.
func (c *checker) inline(it *inlineTable, off int) error {
	t := c.add(-1, "", tnode{kind: kindExplicit, off: off})
	for _, kv := range it.kvs {
		if err := c.define(t, kv); err != nil {
			return err
		}
	}
	return nil
}
