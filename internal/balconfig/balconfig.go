// Package balconfig finds, reads and edits the Config.toml of a Ballerina
// program in place.
//
// A Ballerina program reads its `configurable` variables from Config.toml:
// the root module's as top-level keys, other modules' in [org.module]
// tables. The file belongs to the user, so an edit changes only the bytes of
// the key it is asked to change: comments, order, quoting, blank lines,
// spacing, CRLF line endings, a missing final newline and a UTF-8 BOM all
// stay as they were (see Doc.Set for where a new key goes). Every edit is
// re-parsed (the whole file, or for the new value of an existing string the
// one section it changes) and refused, with the Doc unchanged, unless the
// result is valid TOML that holds the new value. SetTracked reports what an
// edit created, so that Unset can take back exactly that: a key the user
// declared is blanked, never deleted.
//
// A file is parsed once: Load parses all of it and checks TOML's rules on
// keys and tables in time linear in its size; Peek reads a single key and
// stops at the first table header for a top-level one; EditDoc writes a Doc
// loaded earlier without parsing it again when the file has not changed;
// Clone copies a Doc for trial edits. Only regular files of at most MaxSize
// bytes are read. Edit and EditDoc do a whole read-modify-write under the
// file's lock (see atomicfile.Lock) and write atomically; a new file gets
// mode 0600, an existing one keeps its mode but loses group and other bits,
// unless it is read-only (see WriteDoc).
//
// The package knows nothing of OAuth, commands or exit codes: it stores
// strings at key paths, and its errors are *Error values (a configuration
// error) or those of atomicfile and the file system.
package balconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/twauth/twauth/internal/atomicfile"
)

// DefaultFile is the file Locate falls back to.
const DefaultFile = "Config.toml"

// Locate returns the Config.toml to use: flagValue if set, else the first
// file of the BAL_CONFIG_FILES environment variable (a list separated by
// the OS path-list separator, as Ballerina reads it; empty entries are
// skipped), else "Config.toml" in the working directory. getenv is
// os.Getenv in production; nil reads no environment.
func Locate(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if getenv != nil {
		for _, f := range filepath.SplitList(getenv("BAL_CONFIG_FILES")) {
			if f != "" {
				return f
			}
		}
	}
	return DefaultFile
}

// MaxSize is the largest Config.toml Load, Peek, Edit and EditDoc read:
// 16 MiB. A Ballerina program's configuration is a few KB; a file this
// large is the wrong file, and reading it would only use up memory.
const MaxSize = 16 << 20

// readFile reads the Config.toml at path. A missing file is not an error:
// exists is false. Anything but a regular file (a directory, a FIFO, a
// device such as /dev/zero) and a file larger than MaxSize is an *Error
// naming path, and is not read at all: a FIFO is never opened for reading,
// which could wait forever.
func readFile(path string) (data []byte, exists bool, err error) {
	data, _, exists, err = readPrefix(path, MaxSize+1)
	return data, exists, err
}

// readPrefix is readFile that stops after limit bytes; whole reports
// whether data is all of the file.
func readPrefix(path string, limit int) (data []byte, whole, exists bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	if err := checkFile(path, fi); err != nil {
		return nil, false, true, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, false, true, err
	}
	defer f.Close()
	// The file may have been replaced since the Stat.
	if fi, err = f.Stat(); err != nil {
		return nil, false, true, err
	}
	if err := checkFile(path, fi); err != nil {
		return nil, false, true, err
	}
	data = make([]byte, 0, min(fi.Size()+1, int64(limit)))
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		switch {
		case err == io.EOF:
			return data, true, true, nil
		case err != nil:
			return nil, false, true, err
		case len(data) > MaxSize:
			return nil, false, true, tooLarge(path, int64(len(data)))
		case len(data) >= limit:
			return data, false, true, nil
		case len(data) == cap(data):
			data = slices.Grow(data, 4096) // the file grew since the Stat
		}
	}
}

// checkFile refuses what readFile does not read.
func checkFile(path string, fi fs.FileInfo) error {
	var what string
	switch m := fi.Mode(); {
	case m.IsRegular():
		if fi.Size() > MaxSize {
			return tooLarge(path, fi.Size())
		}
		return nil
	case m.IsDir():
		return &Error{Path: path, Reason: "it is a directory, not a file; name the Config.toml file itself"}
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	default:
		what = "not a regular file"
	}
	return &Error{Path: path, Reason: "it is " + what + ", not a regular file; a Config.toml is read only from a regular file"}
}

func tooLarge(path string, size int64) error {
	return &Error{Path: path, Reason: fmt.Sprintf("it is larger than %d MiB (%d bytes or more), the most read from a Config.toml; "+
		"a Ballerina configuration is a few KB: check that this is the right file", MaxSize>>20, size)}
}

// Load reads and parses the file at path. A missing file is not an error:
// it is an empty Doc, and exists is false. Errors about the file (not a
// regular file, larger than MaxSize) or its content are *Error values
// naming path.
func Load(path string) (doc *Doc, exists bool, err error) {
	data, exists, err := readFile(path)
	if err != nil {
		return nil, exists, err
	}
	if !exists {
		return &Doc{path: path}, false, nil
	}
	doc, err = parse(data, path)
	if err != nil {
		return nil, true, err
	}
	return doc, true, nil
}

// Peek reads the string at keyPath (see Doc.Set for its syntax) from the
// file at path, parsing no more of it than it needs: a top-level key
// (keyPath of one part) sits before the first table header, so Peek stops
// there; a dotted key may sit anywhere, so the file is parsed to its end,
// with only the keys under the path's first part checked. Past the part it
// parses, a file is not checked: Peek may return a value from a file that
// Load refuses. found is false when there is no such key (a table named
// keyPath is no key for Peek), exists is false when there is no file.
// Errors are those of Load and Doc.Get.
func Peek(path, keyPath string) (value string, found, exists bool, err error) {
	keys, err := parseKeyPath(keyPath)
	if err != nil {
		err.(*Error).Path = path
		return "", false, false, err
	}
	top := len(keys) == 1
	limit := MaxSize + 1
	if top {
		limit = peekPrefix
	}
	data, whole, exists, err := readPrefix(path, limit)
	if err != nil || !exists {
		return "", false, exists, err
	}
	d := newDoc(data)
	d.path = path
	ix, err := d.index(&keys[0], top)
	if !whole && (err != nil || ix.first < 0) {
		// No header in the first bytes, or they end inside an expression:
		// read it all.
		if data, exists, err = readFile(path); err != nil || !exists {
			return "", false, exists, err
		}
		d = newDoc(data)
		d.path = path
		ix, err = d.index(&keys[0], top)
	}
	if err != nil {
		return "", false, true, err
	}
	value, found, err = ix.get(keys)
	return value, found, true, err
}

// peekPrefix is how much of a file Peek reads first for a top-level key:
// more than most Config.toml files hold.
const peekPrefix = 64 << 10

// Edit runs fn on the Config.toml at path as one read-modify-write: it takes
// the file's lock (waiting up to lockTimeout, see atomicfile.Lock), loads the
// file (a missing one is an empty Doc), runs fn, and writes the result with
// atomicfile.Write, only if its bytes changed (see WriteDoc for its mode).
// An error from fn aborts the edit with nothing written.
func Edit(ctx context.Context, path string, lockTimeout time.Duration, fn func(d *Doc) error) error {
	return editFile(ctx, path, nil, lockTimeout, fn)
}

// EditDoc is Edit for a Doc that Load returned earlier, to spare a second
// parse: under the lock it reads the file again, and runs fn on a copy of d
// if the file still holds d's bytes, or on the file parsed anew if it has
// changed meanwhile (another process wrote it). Once the file is written
// (or found to need no change), d holds what the file holds; if anything
// fails, d is left as it was.
func EditDoc(ctx context.Context, d *Doc, lockTimeout time.Duration, fn func(d *Doc) error) error {
	if d.path == "" {
		return errors.New("balconfig: EditDoc needs a Doc that Load returned, which knows its file")
	}
	return editFile(ctx, d.path, d, lockTimeout, fn)
}

func editFile(ctx context.Context, path string, d *Doc, lockTimeout time.Duration, fn func(d *Doc) error) error {
	// What readFile refuses is refused before a lock file appears beside it.
	if fi, err := os.Stat(path); err == nil {
		if err := checkFile(path, fi); err != nil {
			return err
		}
	}
	unlock, err := atomicfile.Lock(ctx, path, lockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	data, exists, err := readFile(path)
	if err != nil {
		return err
	}
	var work *Doc
	switch {
	case d != nil && bytes.Equal(data, d.data):
		work = d.Clone()
	case !exists:
		work = &Doc{path: path}
	default:
		if work, err = parse(data, path); err != nil {
			return err
		}
	}
	before := work.data
	if err := fn(work); err != nil {
		return err
	}
	if !bytes.Equal(work.data, before) {
		if err := WriteDoc(path, work, atomicfile.Options{Locked: true}); err != nil {
			return err
		}
	}
	if d != nil {
		*d = *work
	}
	return nil
}

// WriteDoc writes d to path atomically with atomicfile.Write, for a caller
// that prepares a Doc first and writes it later. The caller holds the lock
// if it needs one. A new file gets mode 0600. An existing file keeps its
// mode, except that a file its owner may write loses the group and other
// bits (0644 becomes 0600), since it now holds a token; a read-only file
// (no write bit, such as 0444 or 0440) keeps its mode whole, since its
// owner set it so on purpose, often for a program that runs as another
// user (see atomicfile.Options.KeepReadOnly). opts.Private and
// opts.KeepReadOnly are set whatever the caller passes.
func WriteDoc(path string, d *Doc, opts atomicfile.Options) error {
	opts.Private, opts.KeepReadOnly = true, true
	return atomicfile.Write(path, d.data, opts)
}
