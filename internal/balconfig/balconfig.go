// Package balconfig finds, reads and edits the Config.toml of a Ballerina
// program in place.
//
// A Ballerina program reads its `configurable` variables from Config.toml:
// the root module's as top-level keys, other modules' in [org.module]
// tables. The file belongs to the user, so an edit changes only the bytes of
// the key it is asked to change: comments, order, quoting, blank lines,
// spacing, CRLF line endings, a missing final newline and a UTF-8 BOM all
// stay as they were (see Doc.Set for where a new key goes). Every edit is
// re-parsed and refused, with the Doc unchanged, unless the result is valid
// TOML that holds the new value. Edit does a whole read-modify-write of a
// file under a lock and writes it atomically.
//
// The package knows nothing of OAuth: it stores strings at key paths.
package balconfig

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

// Load reads and parses the file at path. A missing file is not an error:
// it is an empty Doc, and exists is false. Errors about the content are
// *Error values naming path.
func Load(path string) (doc *Doc, exists bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Doc{path: path}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	doc, err = parse(data, path)
	if err != nil {
		return nil, true, err
	}
	return doc, true, nil
}

// Edit runs fn on the Config.toml at path as one read-modify-write: it takes
// the file's lock (waiting up to lockTimeout, see atomicfile.Lock), loads the
// file (a missing one is an empty Doc), runs fn, and writes the result with
// atomicfile.Write, with Private set, only if its bytes changed. An error
// from fn aborts the edit with nothing written.
func Edit(ctx context.Context, path string, lockTimeout time.Duration, fn func(d *Doc) error) error {
	unlock, err := atomicfile.Lock(ctx, path, lockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	doc, _, err := Load(path)
	if err != nil {
		return err
	}
	before := doc.data
	if err := fn(doc); err != nil {
		return err
	}
	if bytes.Equal(doc.data, before) {
		return nil
	}
	return WriteDoc(path, doc, atomicfile.Options{Private: true, Locked: true})
}

// WriteDoc writes d to path atomically with atomicfile.Write, for a caller
// that prepares a Doc first and writes it later. The caller holds the lock
// if it needs one.
func WriteDoc(path string, d *Doc, opts atomicfile.Options) error {
	return atomicfile.Write(path, d.data, opts)
}
