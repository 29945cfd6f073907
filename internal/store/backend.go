package store

import (
	"context"
	"os"
	"time"
)

// Backend is where a Store keeps its entries: the JSON file (the default),
// the OS keyring, or etcd (docs/design.md, "Where tokens live"). Store runs
// the durable sequence (Rotate, Update) over these few primitives, so every
// backend gets the same guarantees: one writer at a time, X's answer on
// durable ground before it is decoded, the leftovers of a killed run found
// again. Save, Reserve, Leftovers and ClearJournals are called with the
// lock held.
type Backend interface {
	// Where names the backend for messages and status: a path,
	// "keyring:twauth (metadata in PATH)", "etcd://HOST:PORT/PREFIX".
	Where() string
	// Lock takes the lock every writer of the store holds, waiting up to
	// timeout.
	Lock(ctx context.Context, timeout time.Duration) (unlock func() error, err error)
	// Load reads the whole store; a missing store is an empty one.
	Load(ctx context.Context) (*File, error)
	// Save writes f durably: once it returns nil, a crash cannot lose it.
	Save(ctx context.Context, f *File) error
	// Reserve makes room for the server's answer to a refresh of
	// clientID, before the request is sent: an error means nothing may be
	// sent.
	Reserve(ctx context.Context, clientID string) (Journal, error)
	// Leftovers lists, newest first, the refresh tokens of clientID other
	// than current that killed runs left behind (journals, stores written
	// but not put in place).
	Leftovers(ctx context.Context, clientID, current string) []Leftover
	// ClearJournals removes clientID's journals: the store holds its
	// tokens now, or no longer holds the client.
	ClearJournals(ctx context.Context, clientID string)
}

// Journal is the room Reserve made for one answer.
type Journal interface {
	// Fill writes the raw body of the answer, before it is decoded.
	Fill(body []byte) error
	// Close ends the journal; keep says whether it may hold a refresh
	// token still to be saved (a failed refresh whose answer had one),
	// else it is removed.
	Close(keep bool) error
}

// Leftover is a refresh token a killed run left.
type Leftover struct {
	// Where names the file or key that holds it.
	Where        string
	RefreshToken string
	// Newer: written after the store's last save, so possibly the chain's
	// successor while the stored token is spent.
	Newer bool
}

// backend is the store's backend: s.Backend, else the file at s.Path.
func (s *Store) backend() Backend {
	if s.Backend != nil {
		return s.Backend
	}
	return fileBackend{s}
}

// FileBackend is the JSON file at s.Path, whatever s.Backend says: a
// backend that keeps secrets elsewhere (the keyring) keeps its metadata,
// lock and journals in this file.
func FileBackend(s *Store) Backend { return fileBackend{s} }

// fileBackend is the JSON file at Store.Path, its lock file, and the
// journals and temp files beside it.
type fileBackend struct{ s *Store }

func (b fileBackend) Where() string { return b.s.Path }

func (b fileBackend) Lock(ctx context.Context, timeout time.Duration) (func() error, error) {
	return lockFile(ctx, b.s.Path, timeout)
}

func (b fileBackend) Load(context.Context) (*File, error) { return b.s.loadFile() }

func (b fileBackend) Save(_ context.Context, f *File) error { return b.s.saveFile(f) }

func (b fileBackend) Reserve(_ context.Context, clientID string) (Journal, error) {
	return b.s.reserveJournal(clientID)
}

// Leftovers dates each leftover against the entry's own last save, not
// the store file's (a save of another app or account would make a live
// leftover look old): a journal of this entry outlives only an answer that
// was never saved (the save removes them), so it is newer; a temporary
// store file is newer when its entry was saved at or after the stored one
// (UpdatedAt has whole seconds: a tie counts as newer).
func (b fileBackend) Leftovers(_ context.Context, key, current string) []Leftover {
	var saved time.Time
	if f, err := b.s.loadFile(); err == nil {
		if e := f.Clients[key]; e != nil {
			saved = e.UpdatedAt
		}
	}
	var out []Leftover
	for _, o := range b.s.orphans(key, current) {
		newer := o.journal || !o.Entry.UpdatedAt.Before(saved)
		out = append(out, Leftover{Where: o.Path, RefreshToken: o.Entry.RefreshToken, Newer: newer})
	}
	return out
}

func (b fileBackend) ClearJournals(_ context.Context, clientID string) { b.s.RemoveJournals(clientID) }

// journal is a reserved journal file.
type journal struct {
	path string
	f    *os.File
	body []byte
}

// reserveJournal creates a journal file of clientID and fills it with
// journalReserve zero bytes, so that X's answer has room on a disk that
// fills up meanwhile.
func (s *Store) reserveJournal(clientID string) (*journal, error) {
	dir, prefix, err := s.journalPrefix(clientID)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return nil, &NoRoomError{Dir: dir, Err: err}
	}
	if _, err := f.Write(make([]byte, journalReserve)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, &NoRoomError{Dir: dir, Err: err}
	}
	return &journal{path: f.Name(), f: f}, nil
}

// Fill writes body over the reserved bytes and cuts the file to it.
func (j *journal) Fill(body []byte) error {
	j.body = body
	if _, err := j.f.WriteAt(body, 0); err != nil {
		return err
	}
	return j.f.Truncate(int64(len(body)))
}

// Where is the journal's file.
func (j *journal) Where() string { return j.path }

func (j *journal) Close(keep bool) error {
	err := j.f.Close()
	if !keep || RefreshTokenOf(j.body) == "" {
		return os.Remove(j.path)
	}
	return err
}
