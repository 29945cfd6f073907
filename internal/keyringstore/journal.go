package keyringstore

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"

	"github.com/twauth/twauth/internal/atomicfile"
	"github.com/twauth/twauth/internal/store"
)

// The journals are the metadata file's, named and read as the file
// backend does (docs/design.md, "Journals"), so that a refresh killed
// after X answered is recovered by the next one whatever the store's
// backend. store.Store exports reading and removing them (Orphans,
// RemoveJournals) but not reserving one, which is done here the same way.

// journalReserve is the room a journal takes before the request is sent,
// as in the file backend: X's answers are under 1 KB.
const journalReserve = 16 << 10

// Reserve creates a journal file of clientID beside the metadata file
// (0600) and fills it with zero bytes, so that X's answer has room on a
// disk that fills up meanwhile: an error means nothing may be sent.
func (b *Backend) Reserve(_ context.Context, clientID string) (store.Journal, error) {
	target, err := atomicfile.Target(b.meta.Path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(target)
	prefix := "." + filepath.Base(target) + ".journal-" + store.Fingerprint(clientID)[:16] + "-"
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return nil, &store.NoRoomError{Dir: dir, Err: err}
	}
	if _, err := f.Write(make([]byte, journalReserve)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, &store.NoRoomError{Dir: dir, Err: err}
	}
	return &journal{f: f}, nil
}

// journal is a reserved journal file.
type journal struct {
	f    *os.File
	body []byte
}

// Fill writes body over the reserved bytes and cuts the file to it.
func (j *journal) Fill(body []byte) error {
	j.body = body
	if _, err := j.f.WriteAt(body, 0); err != nil {
		return err
	}
	return j.f.Truncate(int64(len(body)))
}

// Close closes the journal, removing it unless keep is set and the
// answer holds a refresh token.
func (j *journal) Close(keep bool) error {
	err := j.f.Close()
	if !keep || refreshTokenOf(j.body) == "" {
		return os.Remove(j.f.Name())
	}
	return err
}

// refreshTokenOf reads the refresh token from the body of a token answer,
// JSON or form-encoded, as the store reads journals back.
func refreshTokenOf(body []byte) string {
	var j struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &j) == nil {
		return j.RefreshToken
	}
	if v, err := url.ParseQuery(string(body)); err == nil {
		return v.Get("refresh_token")
	}
	return ""
}

// Leftovers lists, newest first, the refresh tokens of clientID other
// than current in the journals and temporary files beside the metadata
// file (temporary metadata files hold none; those of a plain file store
// sharing the path may). Newer compares with the metadata file's
// modification time: Save writes it last.
func (b *Backend) Leftovers(_ context.Context, clientID, current string) []store.Leftover {
	var saved os.FileInfo
	saved, _ = os.Stat(b.meta.Path)
	var out []store.Leftover
	for _, o := range b.meta.Orphans(clientID, current) {
		fi, err := os.Stat(o.Path)
		if err != nil {
			continue
		}
		// Equal times count as newer, as in the file backend: the kernel
		// stamps files with a coarse clock.
		newer := saved == nil || !fi.ModTime().Before(saved.ModTime())
		out = append(out, store.Leftover{Where: o.Path, RefreshToken: o.Entry.RefreshToken, Newer: newer})
	}
	return out
}

// ClearJournals removes clientID's journals.
func (b *Backend) ClearJournals(_ context.Context, clientID string) {
	b.meta.RemoveJournals(clientID)
}
