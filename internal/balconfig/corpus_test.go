package balconfig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// sharedCorpus is the shared test data of the twauth workspace, read in
// place. CI runs on a clean clone that may not have it; testdata/corpus
// holds copies of a handful of its files.
const sharedCorpus = "../../../shared/testdata/ballerina-configs"

// leaves decodes a document with toml.Unmarshal, independently of this
// package, and flattens it to its leaves: key path (parts joined by NUL)
// to a printed value. Empty tables are leaves too.
func leaves(data []byte) (map[string]string, error) {
	var v map[string]any
	if err := toml.Unmarshal(bytes.TrimPrefix(data, utf8BOM), &v); err != nil {
		return nil, err
	}
	out := map[string]string{}
	// root tells the document from a table whose path is "" (the key "").
	var walk func(prefix string, root bool, m map[string]any)
	walk = func(prefix string, root bool, m map[string]any) {
		if len(m) == 0 && !root {
			out[prefix] = "{}"
		}
		for k, x := range m {
			p := k
			if !root {
				p = prefix + "\x00" + k
			}
			if sub, ok := x.(map[string]any); ok {
				walk(p, false, sub)
				continue
			}
			// %#v prints NaN the same way twice, and map keys sorted.
			out[p] = fmt.Sprintf("%T %#v", x, x)
		}
	}
	walk("", true, v)
	return out, nil
}

// sameLeavesExcept checks that two documents hold the same values, except
// at path and at the tables above it (which may become or stop being empty).
func sameLeavesExcept(before, after map[string]string, path []string) error {
	skip := map[string]bool{}
	for i := 1; i <= len(path); i++ {
		skip[strings.Join(path[:i], "\x00")] = true
	}
	for k, v := range before {
		if !skip[k] && after[k] != v {
			return fmt.Errorf("value at %q changed from %s to %s", k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok && !skip[k] {
			return fmt.Errorf("new value at %q: %s", k, v)
		}
	}
	return nil
}

// isSubsequence reports whether every line of a appears in b, in order.
func isSubsequence(a, b []string) bool {
	j := 0
	for _, line := range a {
		for j < len(b) && b[j] != line {
			j++
		}
		if j == len(b) {
			return false
		}
		j++
	}
	return true
}

// tableKey returns the path of a new key in the first [table] of a file, or
// in a new module table when the file has none.
func tableKey(t *testing.T, data []byte) string {
	t.Helper()
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := d.index(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ix.sections[1:] {
		if !s.array {
			return keyString(append(slices.Clone(s.key), "token"))
		}
	}
	return "myorg.app.token"
}

// checkEdit asserts what every successful Set of a new key must give.
func checkEdit(t *testing.T, orig []byte, d *Doc, key, value string) {
	t.Helper()
	got := d.Bytes()
	path, err := parseKeyPath(key)
	if err != nil {
		t.Fatal(err)
	}
	before, err := leaves(orig)
	if err != nil {
		t.Fatal(err)
	}
	after, err := leaves(got)
	if err != nil {
		t.Fatalf("the result does not parse: %v\n%s", err, got)
	}
	if v := after[strings.Join(path, "\x00")]; v != fmt.Sprintf("%T %#v", value, value) {
		t.Errorf("value at %s = %s, want %q", key, v, value)
	}
	if err := sameLeavesExcept(before, after, path); err != nil {
		t.Error(err)
	}
	if !isSubsequence(strings.Split(string(orig), "\n"), strings.Split(string(got), "\n")) {
		t.Errorf("an original line is gone:\n%s", got)
	}
}

func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files in %s", dir)
	}
	return files
}

func testCorpus(t *testing.T, dir string) {
	for _, file := range corpusFiles(t, dir) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			orig, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"token", tableKey(t, orig)} {
				d, err := Parse(orig)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Set(key, "AAAA-token/value+1"); err != nil {
					t.Fatalf("Set(%s): %v", key, err)
				}
				checkEdit(t, orig, d, key, "AAAA-token/value+1")
				// Deleting the key again restores every value.
				if deleted, err := d.Delete(key); err != nil || !deleted {
					t.Fatalf("Delete(%s) = %v, %v", key, deleted, err)
				}
				after, err := leaves(d.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				before, _ := leaves(orig)
				path, _ := parseKeyPath(key)
				if err := sameLeavesExcept(before, after, path); err != nil {
					t.Errorf("after Delete(%s): %v", key, err)
				}
			}
		})
	}
	for _, file := range corpusFiles(t, filepath.Join(dir, "invalid")) {
		t.Run("invalid/"+filepath.Base(file), func(t *testing.T) {
			_, _, err := Load(file)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load = %v, want an *Error", err)
			}
			if e.Path != file || e.Line == 0 || e.Col == 0 {
				t.Errorf("error %q lacks the file or its position", err)
			}
		})
	}
}

// TestSharedCorpus edits every real-world file of the shared test data.
func TestSharedCorpus(t *testing.T) {
	if _, err := os.Stat(sharedCorpus); err != nil {
		t.Skipf("the shared test data %s is not here (a clean clone): %v; testdata/corpus covers part of it", sharedCorpus, err)
	}
	testCorpus(t, sharedCorpus)
}

// TestCorpus edits the copies in testdata/corpus.
func TestCorpus(t *testing.T) {
	testCorpus(t, "testdata/corpus")
}

// TestCorpusInvalidPositions pins the positions of the two invalid files.
func TestCorpusInvalidPositions(t *testing.T) {
	for file, want := range map[string]string{
		"39-ballang-double-dot-header.toml": "testdata/corpus/invalid/39-ballang-double-dot-header.toml:1:10: invalid TOML: invalid character at start of key: U+002E '.'",
		"40-ballang-bare-key.toml":          "testdata/corpus/invalid/40-ballang-bare-key.toml:2:7: invalid TOML: expected '=' after key",
	} {
		_, _, err := Load(filepath.Join("testdata/corpus/invalid", file))
		if err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v\nwant %s", file, err, want)
		}
	}
}

// TestCorpusGolden pins the exact bytes of edits of the real-world copies.
func TestCorpusGolden(t *testing.T) {
	for _, tc := range []struct {
		file, name string
		op         func(d *Doc) error
	}{
		{"06-gsheets-mock-oauth.toml", "set-existing", func(d *Doc) error { return d.Set("googleapis.sheets.mockRefreshToken", "rotated") }},
		{"06-gsheets-mock-oauth.toml", "set-new", func(d *Doc) error { return d.Set("googleapis.sheets.token", "T") }},
		{"07-docusign-dsadmin-oauth-crlf.toml", "set-new", func(d *Doc) error { return d.Set("docusign.dsadmin.token", "T") }},
		{"07-docusign-dsadmin-oauth-crlf.toml", "set-top-level", func(d *Doc) error { return d.Set("token", "T") }},
		{"07-docusign-dsadmin-oauth-crlf.toml", "delete", func(d *Doc) error { return deleteKey(d, "docusign.dsadmin.refreshToken") }},
		{"08-np-dotted-apikey.toml", "set-dotted", func(d *Doc) error {
			return d.Set("ballerinax.np.defaultModelConfig.connectionConfig.auth.token", "T")
		}},
		{"11-ballang-records-inline.toml", "set-inline", func(d *Doc) error {
			return d.Set("configRecordType.imported_records.employee.token", "T")
		}},
		{"17-github-token-no-eol.toml", "set-existing", func(d *Doc) error { return d.Set("github.githubPersonalAccessToken", "ghp_new") }},
		{"17-github-token-no-eol.toml", "set-new", func(d *Doc) error { return d.Set("github.token", "T") }},
		{"17-github-token-no-eol.toml", "delete-last", func(d *Doc) error { return deleteKey(d, "github.githubPersonalAccessToken") }},
		{"19-icp-server-heavily-commented.toml", "set-top-level", func(d *Doc) error { return d.Set("token", "T") }},
		{"22-controlplane-comments-only.toml", "set-top-level", func(d *Doc) error { return d.Set("token", "T") }},
		{"22-controlplane-comments-only.toml", "set-module", func(d *Doc) error { return d.Set("wso2.controlplane.token", "T") }},
		{"31-cregistry-empty-tables-crlf.toml", "set-empty-table", func(d *Doc) error { return d.Set("originals.token", "T") }},
		{"32-etl-dotted-no-eol.toml", "set-dotted-existing", func(d *Doc) error {
			return d.Set("ballerina.etl.modelConfig.connectionConfig.auth.token", "new")
		}},
		{"32-etl-dotted-no-eol.toml", "set-new", func(d *Doc) error { return d.Set("ballerina.etl.modelConfig.token", "T") }},
	} {
		name := strings.TrimSuffix(tc.file, ".toml") + "." + tc.name + ".toml"
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join("testdata/corpus", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(orig)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.op(d); err != nil {
				t.Fatal(err)
			}
			got := d.Bytes()
			golden := filepath.Join("testdata/golden/corpus", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got:\n%q\nwant:\n%q", got, want)
			}
		})
	}
}

func deleteKey(d *Doc, key string) error {
	deleted, err := d.Delete(key)
	if err == nil && !deleted {
		err = fmt.Errorf("%s was not there", key)
	}
	return err
}

// TestCorpusUnsetRoundTrip: on every real-world file, Unset after SetTracked
// gives the file back byte for byte, for a top-level key, a key of an
// existing table and a key of a new table, each new or existing.
func TestCorpusUnsetRoundTrip(t *testing.T) {
	dirs := []string{"testdata/corpus"}
	if _, err := os.Stat(sharedCorpus); err == nil {
		dirs = append(dirs, sharedCorpus)
	}
	for _, dir := range dirs {
		for _, file := range corpusFiles(t, dir) {
			orig, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"token", tableKey(t, orig), "twauthtest.app.token"} {
				t.Run(filepath.Base(file)+"/"+key, func(t *testing.T) {
					d, err := Parse(orig)
					if err != nil {
						t.Fatal(err)
					}
					c, err := d.SetTracked(key, "AAAA")
					if err != nil {
						t.Fatal(err)
					}
					changed, err := d.Unset(key, c)
					if err != nil || !changed {
						t.Fatalf("Unset(%s, %+v) = %v, %v", key, c, changed, err)
					}
					if got := d.Bytes(); !bytes.Equal(got, orig) && c.Key {
						t.Errorf("created %+v; after Unset:\n%q\nwant:\n%q", c, got, orig)
					}
				})
			}
		}
	}
}
