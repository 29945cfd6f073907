package balconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the golden files with the current results")

// TestGolden runs testdata/golden/*.txtar. Each archive holds:
//
//	-- ops --     one operation a line, run in order on in.toml:
//	                set <key path> = <Go-quoted value>
//	                delete <key path>
//	                get <key path>
//	                track <key path> = <Go-quoted value>   (SetTracked)
//	                unset <key path> <Created as JSON>
//	              and, first, any of these transforms of in.toml and
//	              out.toml (the archives themselves stay LF text):
//	                noeol  drop the final newline
//	                crlf   end lines with CRLF
//	                bom    start with a UTF-8 BOM
//	-- in.toml --  the input
//	-- out.toml -- the exact bytes after the operations (absent if the
//	              input does not parse)
//	-- log --     what each operation returned, errors with line:col
//
// An operation that fails must leave the bytes as they were.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runGolden(t, file)
		})
	}
}

type transforms struct{ noeol, crlf, bom bool }

func (tr transforms) apply(s string) []byte {
	if tr.noeol {
		s = strings.TrimSuffix(s, "\n")
	}
	if tr.crlf {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	if tr.bom {
		s = "\uFEFF" + s
	}
	return []byte(s)
}

// undo turns real bytes back into archive text; ok is false if they do not
// have the shape the transforms promise, so the archive could not hold them.
func (tr transforms) undo(b []byte) (s string, ok bool) {
	s = string(b)
	if tr.bom {
		if s, ok = strings.CutPrefix(s, "\uFEFF"); !ok {
			return "", false
		}
	}
	if tr.crlf {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	if tr.noeol {
		if strings.HasSuffix(s, "\n") && s != "" {
			return "", false
		}
		s += "\n"
	}
	return s, !strings.Contains(s, "\r")
}

func archiveFile(a *txtar.Archive, name string) (string, bool) {
	for _, f := range a.Files {
		if f.Name == name {
			return string(f.Data), true
		}
	}
	return "", false
}

func runGolden(t *testing.T, file string) {
	a, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	opsText, ok := archiveFile(a, "ops")
	if !ok {
		t.Fatal("no ops section")
	}
	in, ok := archiveFile(a, "in.toml")
	if !ok {
		t.Fatal("no in.toml section")
	}
	var tr transforms
	var ops []string
	for _, line := range strings.Split(strings.TrimSpace(opsText), "\n") {
		switch line = strings.TrimSpace(line); line {
		case "":
		case "noeol":
			tr.noeol = true
		case "crlf":
			tr.crlf = true
		case "bom":
			tr.bom = true
		default:
			if !strings.HasPrefix(line, "#") {
				ops = append(ops, line)
			}
		}
	}

	var log strings.Builder
	var out []byte
	doc, err := Parse(tr.apply(in))
	if err != nil {
		checkError(t, err)
		fmt.Fprintf(&log, "parse: error: %v\n", err)
	} else {
		for _, op := range ops {
			fmt.Fprintf(&log, "%s: %s\n", op, runOp(t, doc, op))
		}
		out = doc.Bytes()
	}

	wantLog, _ := archiveFile(a, "log")
	wantOut, hasOut := archiveFile(a, "out.toml")
	if *update {
		files := []txtar.File{{Name: "ops", Data: []byte(opsText)}, {Name: "in.toml", Data: []byte(in)}}
		if doc != nil {
			s, ok := tr.undo(out)
			if !ok {
				t.Fatalf("the result %q does not fit the transforms %+v", out, tr)
			}
			files = append(files, txtar.File{Name: "out.toml", Data: []byte(s)})
		}
		files = append(files, txtar.File{Name: "log", Data: []byte(log.String())})
		a.Files = files
		if err := os.WriteFile(file, txtar.Format(a), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := log.String(); got != wantLog {
		t.Errorf("log:\n%s\nwant:\n%s", got, wantLog)
	}
	if doc == nil {
		if hasOut {
			t.Error("the input does not parse, but the archive has an out.toml")
		}
		return
	}
	if !hasOut {
		t.Fatal("no out.toml section")
	}
	if want := tr.apply(wantOut); !bytes.Equal(out, want) {
		t.Errorf("out.toml:\n%q\nwant:\n%q", out, want)
	}
	if _, err := Parse(out); err != nil {
		t.Errorf("the result does not parse: %v", err)
	}
}

// runOp runs one golden operation and describes its result.
func runOp(t *testing.T, doc *Doc, op string) string {
	t.Helper()
	verb, arg, _ := strings.Cut(op, " ")
	before := doc.Bytes()
	var res string
	var err error
	switch verb {
	case "set":
		i := strings.LastIndex(arg, " = ")
		if i < 0 {
			t.Fatalf("bad op %q", op)
		}
		key, quoted := arg[:i], arg[i+len(" = "):]
		value, uerr := strconv.Unquote(quoted)
		if uerr != nil {
			t.Fatalf("bad value in %q: %v", op, uerr)
		}
		err = doc.Set(key, value)
		res = "ok"
	case "track":
		i := strings.LastIndex(arg, " = ")
		if i < 0 {
			t.Fatalf("bad op %q", op)
		}
		key, quoted := arg[:i], arg[i+len(" = "):]
		value, uerr := strconv.Unquote(quoted)
		if uerr != nil {
			t.Fatalf("bad value in %q: %v", op, uerr)
		}
		var c Created
		c, err = doc.SetTracked(key, value)
		j, jerr := json.Marshal(c)
		if jerr != nil {
			t.Fatal(jerr)
		}
		res = "created " + string(j)
	case "unset":
		i := strings.LastIndex(arg, " {")
		if i < 0 {
			t.Fatalf("bad op %q", op)
		}
		var c Created
		if jerr := json.Unmarshal([]byte(arg[i+1:]), &c); jerr != nil {
			t.Fatalf("bad Created in %q: %v", op, jerr)
		}
		var changed bool
		changed, err = doc.Unset(arg[:i], c)
		res = fmt.Sprintf("changed=%v", changed)
	case "delete":
		var deleted bool
		deleted, err = doc.Delete(arg)
		res = fmt.Sprintf("deleted=%v", deleted)
	case "get":
		var value string
		var found bool
		value, found, err = doc.Get(arg)
		res = fmt.Sprintf("%q found=%v", value, found)
	default:
		t.Fatalf("unknown op %q", op)
	}
	if err != nil {
		checkError(t, err)
		if !bytes.Equal(doc.Bytes(), before) {
			t.Errorf("%s failed but changed the document", op)
		}
		if strings.Contains(err.Error(), "internal error") {
			t.Errorf("%s: %v", op, err)
		}
		return "error: " + err.Error()
	}
	return res
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %v is a %T, not an *Error", err, err)
	}
}
