package balconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// readers are the ways a Config.toml is read, each returning what it read
// from the file at path.
var readers = map[string]func(path string) error{
	"Load": func(path string) error { _, _, err := Load(path); return err },
	"Peek": func(path string) error { _, _, _, err := Peek(path, "token"); return err },
	"Peek dotted": func(path string) error {
		_, _, _, err := Peek(path, "a.token")
		return err
	},
	"Edit": func(path string) error {
		return Edit(context.Background(), path, time.Second, setKey("token", "T"))
	},
}

// wantFileError asserts a refusal of the file itself: an *Error naming the
// file and saying why, with no position.
func wantFileError(t *testing.T, err error, path string, why ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *Error", err, err)
	}
	if e.Path != path || e.Line != 0 {
		t.Errorf("error %+v: want the path %s and no position", e, path)
	}
	for _, w := range why {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestReadDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Config.toml")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, read := range readers {
		t.Run(name, func(t *testing.T) {
			wantFileError(t, read(path), path, "is a directory", "name the Config.toml file itself")
		})
	}
	d := &Doc{path: path}
	wantFileError(t, EditDoc(context.Background(), d, time.Second, setKey("token", "T")), path, "is a directory")
}

func TestReadTooLarge(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.toml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk space used.
	if err := f.Truncate(MaxSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for name, read := range readers {
		t.Run(name, func(t *testing.T) {
			wantFileError(t, read(big), big, "larger than 16 MiB", "16777217 bytes")
		})
	}
	// At the limit, the file is read: its content is what is wrong.
	if err := os.Truncate(big, MaxSize); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(big)
	var e *Error
	if !errors.As(err, &e) || e.Line != 1 || strings.Contains(err.Error(), "MiB") {
		t.Errorf("a file of MaxSize bytes of NUL: Load = %v, want invalid TOML at line 1", err)
	}
}

func TestPeek(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Past the first header the file is invalid: a top-level key is read
	// before it, and the rest is not parsed.
	broken := write("broken.toml", "\uFEFF# c\r\nclientId = 'app' # mine\r\nother.x = 1\r\n[t]\r\nk = \"unterminated\r\n")
	// A valid file with the key under a table and as a dotted key.
	full := write("full.toml", "clientId = \"root\"\n[a]\ntoken = \"in a\"\n[b]\nc.token = \"\"\"dotted\"\"\"\n")
	dup := write("dup.toml", "clientId = \"1\"\nclientId = \"2\"\n[t]\n")
	notString := write("int.toml", "clientId = 7\n")

	for _, tc := range []struct {
		path, key, value string
		found            bool
		err              string
	}{
		{broken, "clientId", "app", true, ""},
		{broken, "missing", "", false, ""},
		{broken, "t.k", "", false, "broken.toml:5:18: invalid TOML: basic strings cannot have new lines"},
		{full, "clientId", "root", true, ""},
		{full, "a.token", "in a", true, ""},
		{full, "b.c.token", "dotted", true, ""},
		{full, "a", "", false, ""}, // a table is no key for Peek
		{full, "b.missing", "", false, ""},
		{dup, "clientId", "", false, "dup.toml:2:1: invalid TOML: duplicate key clientId"},
		{notString, "clientId", "", false, "int.toml:1:12: cannot read clientId: it holds an integer"},
		{full, "bad key", "", false, "full.toml: invalid key path"},
	} {
		v, found, exists, err := Peek(tc.path, tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Peek(%s, %s) = %v, want %q", filepath.Base(tc.path), tc.key, err, tc.err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("Peek(%s, %s): %T is no *Error", filepath.Base(tc.path), tc.key, err)
			}
			continue
		}
		if err != nil || v != tc.value || found != tc.found || !exists {
			t.Errorf("Peek(%s, %s) = %q, %v, %v, %v; want %q, %v", filepath.Base(tc.path), tc.key, v, found, exists, err, tc.value, tc.found)
		}
	}
	if v, found, exists, err := Peek(filepath.Join(dir, "none.toml"), "clientId"); v != "" || found || exists || err != nil {
		t.Errorf("missing file: Peek = %q, %v, %v, %v", v, found, exists, err)
	}
	// Load refuses the file Peek read from.
	if _, _, err := Load(broken); err == nil {
		t.Error("Load accepted a broken file")
	}
}

// TestPeekAgreesWithLoad: on every valid test document, Peek and Get of a
// loaded Doc agree.
// TestPeekLongPreamble: Peek reads the first 64 KB of a file first; a key
// past them, or a string across their end that holds a line like a header,
// is read from the whole file.
func TestPeekLongPreamble(t *testing.T) {
	dir := t.TempDir()
	pad := strings.Repeat("# padding line\n", 5000) // 75 KB
	for name, content := range map[string]string{
		"late key":                            pad + "clientId = \"late\"\n[t]\nk = 1\n",
		"late key, no header":                 pad + "clientId = \"late\"\n",
		"string across the end":               "a = \"\"\"\n" + pad + "[fake]\nclientId = \"in a string\"\n\"\"\"\n" + pad + "clientId = \"late\"\n[t]\n",
		"string across the end, header in it": "a = '''\n" + strings.Repeat("x", 60<<10) + "\n[fake]\n" + strings.Repeat("y", 10<<10) + "\n'''\nclientId = \"late\"\n",
	} {
		path := filepath.Join(dir, "Config.toml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if v, found, _, err := Peek(path, "clientId"); err != nil || !found || v != "late" {
			t.Errorf("%s: Peek = %q, %v, %v", name, v, found, err)
		}
	}
}

func TestPeekAgreesWithLoad(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob("testdata/corpus/*.toml")
	for i, s := range edgeCases {
		path := filepath.Join(dir, strings.Repeat("e", i+1)+".toml")
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	keys := append([]string{"clientId", "clientSecret", "googleapis.sheets.mockClientId", "github.githubPersonalAccessToken"}, seedKeys...)
	for _, file := range files {
		d, exists, err := Load(file)
		if err != nil || !exists {
			continue
		}
		for _, key := range keys {
			want, wantFound, wantErr := d.Get(key)
			got, found, _, err := Peek(file, key)
			if wantErr != nil {
				// Peek reads a table's name as no key; any other error is the same.
				if err != nil && err.Error() != wantErr.Error() {
					t.Errorf("%s %s: Peek error %v, Get error %v", file, key, err, wantErr)
				}
				continue
			}
			if err != nil || got != want || found != wantFound {
				t.Errorf("%s %s: Peek = %q, %v, %v; Get = %q, %v", file, key, got, found, err, want, wantFound)
			}
		}
	}
}

func TestEditDoc(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "Config.toml")
	orig := "clientId = \"c\" # mine\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	d, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}

	// The file is as d read it: fn gets a copy of d, parsed once.
	err = EditDoc(ctx, d, time.Second, func(w *Doc) error {
		if w == d || w.ix != d.ix {
			t.Error("fn did not get a copy of d sharing its parse")
		}
		return w.Set("token", "T1")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := orig + "token = \"T1\"\n"
	if got, _ := os.ReadFile(path); string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if string(d.Bytes()) != want {
		t.Errorf("d = %q, want what the file holds", d.Bytes())
	}

	// Another process changed the file: fn gets the file parsed anew.
	other := "# rewritten\nclientId = \"c\"\ntoken = \"T1\"\nx = \"y\"\n"
	if err := os.WriteFile(path, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	err = EditDoc(ctx, d, time.Second, func(w *Doc) error {
		if string(w.Bytes()) != other {
			t.Errorf("fn got %q, not the file", w.Bytes())
		}
		return w.Set("token", "T2")
	})
	if err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(other, "T1", "T2", 1)
	if got, _ := os.ReadFile(path); string(got) != want || string(d.Bytes()) != want {
		t.Errorf("file = %q, d = %q, want %q", got, d.Bytes(), want)
	}

	// An error from fn, after an edit of its copy: d and the file stay.
	boom := errors.New("boom")
	err = EditDoc(ctx, d, time.Second, func(w *Doc) error {
		if err := w.Set("token", "T3"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("EditDoc = %v, want boom", err)
	}
	if got, _ := os.ReadFile(path); string(got) != want || string(d.Bytes()) != want {
		t.Errorf("after a failed fn: file = %q, d = %q, want %q", got, d.Bytes(), want)
	}

	// A Doc from Parse has no file.
	p, _ := Parse([]byte(orig))
	if err := EditDoc(ctx, p, time.Second, setKey("token", "T")); err == nil {
		t.Error("EditDoc of a parsed Doc succeeded")
	}
}

func TestEditDocMissingFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "Config.toml")
	d, exists, err := Load(path)
	if err != nil || exists {
		t.Fatalf("Load = %v, %v", exists, err)
	}
	if err := EditDoc(ctx, d, time.Second, setKey("token", "T")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "token = \"T\"\n" {
		t.Errorf("file = %q", got)
	}
	// Meanwhile created by someone else, then edited from the old empty Doc.
	d2 := &Doc{path: path}
	if err := EditDoc(ctx, d2, time.Second, setKey("other", "O")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "token = \"T\"\nother = \"O\"\n" {
		t.Errorf("file = %q", got)
	}
}

func TestClone(t *testing.T) {
	d, err := Parse([]byte("a = \"1\"\n[t]\nb = \"2\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := d.Clone()
	if err := c.Set("t.b", "changed"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if got := string(d.Bytes()); got != "a = \"1\"\n[t]\nb = \"2\"\n" {
		t.Errorf("the original changed: %q", got)
	}
	if v, _, _ := d.Get("t.b"); v != "2" {
		t.Errorf("the original reads %q", v)
	}
	// And the other way round: an edit of the original leaves the clone.
	c2 := d.Clone()
	if err := d.Set("a", "x"); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := c2.Get("a"); v != "1" {
		t.Errorf("the clone reads %q after an edit of the original", v)
	}
	if got := string(c.Bytes()); got != "[t]\nb = \"changed\"\n" {
		t.Errorf("clone = %q", got)
	}
}

func TestEditModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes")
	}
	for _, tc := range []struct{ mode, want os.FileMode }{
		{0o444, 0o444}, // read-only on purpose: kept whole
		{0o440, 0o440},
		{0o644, 0o600}, // writable and readable by others: now holds a token
		{0o664, 0o600},
		{0o600, 0o600},
	} {
		path := filepath.Join(t.TempDir(), "Config.toml")
		if err := os.WriteFile(path, []byte("clientId = \"c\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := Edit(context.Background(), path, time.Second, setKey("token", "T")); err != nil {
			t.Fatalf("%o: %v", tc.mode, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("mode %o became %o, want %o", tc.mode, got, tc.want)
		}
		if got, _ := os.ReadFile(path); string(got) != "clientId = \"c\"\ntoken = \"T\"\n" {
			t.Errorf("%o: file = %q", tc.mode, got)
		}
	}
}
