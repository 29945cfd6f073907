package balconfig

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/rogpeppe/go-internal/txtar"
)

// edgeCases are small documents that exercise the corners of the editor.
var edgeCases = []string{
	"",
	"\uFEFF",
	"\n\n",
	"# only a comment",
	"token = 'x'\r\n",
	"a = 1",
	"[a]\n",
	"[a]",
	"[[a]]\nx = 1\n",
	"a = {}\n",
	"a = { b = { c = \"x\" } }\n",
	"a = {\n  b = \"1\", # c\n  c = \"2\",\n}\n",
	"a.b.c = \"x\"\n[a.b.d]\ne = 1\n",
	"[a.b]\n[a]\n",
	"x = [{ a = \"1\" }, [{ b = 2 }]]\n",
	"\"a.b\" = \"1\"\na.b = \"2\"\n",
	"  token   =   \"\"\"\nx\"\"\"   # c\n[t]\n",
	"\uFEFF# c\r\n[t]\r\nk = \"v\"",
}

// fuzzSeeds returns the test documents: the corpus copies, the shared
// corpus when it is here, the golden inputs and the edge cases.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, pattern := range []string{"testdata/corpus/*.toml", "testdata/corpus/invalid/*.toml", sharedCorpus + "/*.toml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, data)
		}
	}
	archives, _ := filepath.Glob("testdata/golden/*.txtar")
	for _, file := range archives {
		a, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if in, ok := archiveFile(a, "in.toml"); ok {
			seeds = append(seeds, []byte(in))
		}
	}
	for _, s := range edgeCases {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// seedKeys are key paths worth trying on any seed.
var seedKeys = []string{"token", "a", "a.b", "a.b.c", "t.token", "myorg.app.token", `"a.b"`, "a.token", "x.a"}

// checkRefusal asserts what a refused edit must be: an *Error that is not a
// bug, with the document untouched.
func checkRefusal(t *testing.T, d *Doc, before []byte, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("refusal %v is a %T, not an *Error", err, err)
	}
	if strings.Contains(e.Reason, "internal error") {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Bytes(), before) {
		t.Fatalf("refused (%v) but the document changed:\n%q\n%q", err, before, d.Bytes())
	}
}

// FuzzSet: for any document that parses and any key path, Set either
// refuses with the document untouched, or gives a document that parses,
// holds the value at the path and keeps every other value; and Unset then
// takes the edit back (see checkUnset).
func FuzzSet(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		for _, key := range seedKeys {
			f.Add(data, key, "new \"value\"\n")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		before := d.Bytes()
		c, err := d.SetTracked(key, value)
		if err != nil {
			checkRefusal(t, d, before, err)
			return
		}
		after := d.Bytes()
		path, err := parseKeyPath(key)
		if err != nil {
			t.Fatalf("Set accepted the key path %q: %v", key, err)
		}
		lb, err := leaves(before)
		if err != nil {
			t.Fatal(err)
		}
		la, err := leaves(after)
		if err != nil {
			t.Fatalf("the result does not parse: %v\n%q\n%q", err, before, after)
		}
		if want := leafOf(value); la[strings.Join(path, "\x00")] != want {
			t.Fatalf("value at %q = %s, want %s\n%q", key, la[strings.Join(path, "\x00")], want, after)
		}
		if err := sameLeavesExcept(lb, la, path); err != nil {
			t.Fatalf("%v\n%q\n%q", err, before, after)
		}
		d2, err := Parse(after)
		if err != nil {
			t.Fatalf("Parse of the result: %v\n%q", err, after)
		}
		if v, ok, err := d2.Get(key); err != nil || !ok || v != value {
			t.Fatalf("Get of the result = %q, %v, %v", v, ok, err)
		}
		checkUnset(t, d, key, c, before, lb)
	})
}

// checkUnset: Unset after SetTracked takes away what the Set created and
// blanks what was there; only blank lines may differ from the document of
// before (Set adds one next to a new line, and cannot tell Unset whether the
// file ended with one already).
func checkUnset(t *testing.T, d *Doc, key string, c Created, before []byte, lb map[string]string) {
	t.Helper()
	set := d.Bytes()
	if _, err := d.Unset(key, c); err != nil {
		t.Fatalf("Unset(%q, %+v): %v\n%q", key, c, err, set)
	}
	got := d.Bytes()
	lg, err := leaves(got)
	if err != nil {
		t.Fatalf("Unset gave a document that does not parse: %v\n%q\n%q", err, set, got)
	}
	path, _ := parseKeyPath(key)
	if !c.Key {
		if v := lg[strings.Join(path, "\x00")]; v != leafOf("") {
			t.Fatalf("Unset of a key that was there: %s, want a blank string\n%q", v, got)
		}
		if err := sameLeavesExcept(lb, lg, path); err != nil {
			t.Fatalf("%v\n%q\n%q", err, before, got)
		}
		return
	}
	if !maps.Equal(lb, lg) {
		t.Fatalf("Unset(%+v) did not restore the values:\n%q\n%q\n%q", c, before, set, got)
	}
	if !slices.Equal(nonBlankLines(before), nonBlankLines(got)) {
		t.Fatalf("Unset(%+v) did not restore the lines:\n%q\n%q\n%q", c, before, set, got)
	}
}

func nonBlankLines(b []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSuffix(l, "\r"))
		}
	}
	return lines
}

// FuzzDelete: for any document that parses and any key path, Delete either
// refuses with the document untouched, or finds nothing and changes
// nothing, or removes exactly the value at the path.
func FuzzDelete(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		for _, key := range seedKeys {
			f.Add(data, key)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		before := d.Bytes()
		deleted, err := d.Delete(key)
		if err != nil {
			checkRefusal(t, d, before, err)
			return
		}
		after := d.Bytes()
		if !deleted {
			if !bytes.Equal(before, after) {
				t.Fatalf("nothing deleted, but the document changed:\n%q\n%q", before, after)
			}
			return
		}
		path, _ := parseKeyPath(key)
		lb, err := leaves(before)
		if err != nil {
			t.Fatal(err)
		}
		la, err := leaves(after)
		if err != nil {
			t.Fatalf("the result does not parse: %v\n%q\n%q", err, before, after)
		}
		if v, ok := la[strings.Join(path, "\x00")]; ok {
			t.Fatalf("%q still holds %s", key, v)
		}
		if err := sameLeavesExcept(lb, la, path); err != nil {
			t.Fatalf("%v\n%q\n%q", err, before, after)
		}
		d2, err := Parse(after)
		if err != nil {
			t.Fatalf("Parse of the result: %v\n%q", err, after)
		}
		if _, ok, err := d2.Get(key); err != nil || ok {
			t.Fatalf("Get of the result found %q (err %v)", key, err)
		}
	})
}

// FuzzCheck holds Parse's linear checker, the only one in the package, to
// toml.Unmarshal's verdict on every document: valid or not.
func FuzzCheck(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	for _, s := range []string{
		"a = 1\na = 2\n", "[a]\n[a]\n", "a.b = 1\n[a]\n", "a = {x=1}\n[a.b]\n", "[[a]]\n[a]\n",
		"[a]\n[[a]]\n", "a = [1]\n[[a]]\n", "[a.b.c]\n[a]\nb.c.d = 1\n", "[a.b.c]\n[a]\nb.x = 1\n",
		"a = 1\n[a.b]\n", "[[a.b]]\n[a]\nb = 1\n", "x = {a.b = 1, a.c = 2}\n", "x = {a = {b = 1}, a.c = 2}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDoc(data)
		_, mine := d.index(nil, false)
		var v map[string]any
		theirs := toml.Unmarshal(data[d.bom:], &v)
		if (mine == nil) != (theirs == nil) {
			t.Fatalf("checker: %v\ntoml.Unmarshal: %v\n%q", mine, theirs, data)
		}
	})
}

func leafOf(s string) string {
	l, _ := leaves([]byte("v = " + quote(s)))
	return l["v"]
}
