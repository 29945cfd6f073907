package store

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Grant is a token set the server issued.
type Grant struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	Expiry       time.Time
	Scope        string
}

// Rotation is one use of a refresh chain (docs/design.md, "The durable
// sequence"). The store runs the whole sequence; the caller supplies the
// parts that know OAuth.
type Rotation struct {
	// Key is the entry's key (EntryKey).
	Key string
	// Fresh reports that an entry is good enough as it is (another process
	// refreshed it while this one waited for the lock): then nothing is
	// sent. Nil means always refresh.
	Fresh func(*Entry) bool
	// Seed, when set, is the refresh token to spend instead of the stored
	// one (a CI secret); the leftovers of killed runs are then not tried.
	Seed string
	// Refresh spends refreshToken at the server. It must call journal with
	// the raw body of the server's answer the moment it is read, before
	// decoding it.
	Refresh func(ctx context.Context, refreshToken string, journal func(body []byte)) (Grant, error)
	// Rejected reports whether an error of Refresh means the server
	// refused that refresh token (spent, revoked), as opposed to failing.
	Rejected func(error) bool
	// Entry builds the entry to save from the grant and the entry it
	// replaces (nil when none).
	Entry func(g Grant, old *Entry) *Entry
}

// Rotated is the outcome of Rotate.
type Rotated struct {
	Entry *Entry
	// Refreshed is false when Fresh accepted the stored entry.
	Refreshed bool
	// RecoveredFrom names the leftover file whose refresh token was used,
	// when a killed run had left the chain's successor there.
	RecoveredFrom string
}

// SaveError is a token set the server issued that could not be saved. The
// Rotated returned with it holds the set, so the caller can still hand it
// on (Config.toml, output) rather than lose it.
type SaveError struct {
	Path string
	Err  error
	// Journal names where the server's answer is kept (a journal file or
	// key) when the refresh journalled it: the next refresh recovers it.
	Journal string
}

func (e *SaveError) Error() string {
	return fmt.Sprintf("the server issued a new refresh token, but saving it to %s failed (%v)", e.Path, e.Err)
}

func (e *SaveError) Unwrap() error { return e.Err }

// NoRoomError: the journal for the server's answer could not be reserved,
// so nothing was sent (an answer with nowhere to go would lose the chain).
type NoRoomError struct {
	Dir string
	Err error
}

func (e *NoRoomError) Error() string {
	return fmt.Sprintf("no room to keep the server's answer in %s (%v): nothing was sent; free some space", e.Dir, e.Err)
}

func (e *NoRoomError) Unwrap() error { return e.Err }

// NoRefreshTokenError: the store holds no entry, or one without a refresh
// token, for the client.
type NoRefreshTokenError struct {
	ClientID string
	// Stored is true when an entry exists but has no refresh token.
	Stored bool
}

func (e *NoRefreshTokenError) Error() string {
	if e.Stored {
		return fmt.Sprintf("the token of client id %s has no refresh token (the server issued none)", e.ClientID)
	}
	return fmt.Sprintf("no token is stored for client id %s", e.ClientID)
}

// maxAttempts bounds the refresh tokens one Rotate sends: the stored one
// and the leftovers of killed runs.
const maxAttempts = 4

// journalReserve is the room a journal takes before the request is sent:
// X's answers are under 1 KB.
const journalReserve = 16 << 10

// Rotate runs one refresh of r.Key's chain as one durable sequence:
// take the lock; re-read the store; return the entry as it is when r.Fresh
// accepts it; otherwise spend a refresh token — first the leftovers of a
// killed run that are newer than the store (their token may be the chain's
// successor, and the stored one spent), newest first, then the stored one,
// then older leftovers if the stored one is refused — with a journal
// reserved before each request and X's answer written to it before it is
// decoded; save the new entry (fsync); remove the journals. Only then does
// the caller touch Config.toml or print anything.
func (s *Store) Rotate(ctx context.Context, r Rotation) (Rotated, error) {
	b := s.backend()
	unlock, err := s.Lock(ctx)
	if err != nil {
		return Rotated{}, err
	}
	defer unlock()
	f, err := b.Load(ctx)
	if err != nil {
		return Rotated{}, err
	}
	old := f.Clients[r.Key]
	if r.Fresh != nil && r.Fresh(old) {
		return Rotated{Entry: old}, nil
	}
	// From here a request may be spent at the server: an interrupt must
	// not cut the answer off before it is journalled and saved
	// (docs/design.md, "Signals"). --http-timeout still bounds the request.
	ctx = context.WithoutCancel(ctx)
	type candidate struct{ token, from string }
	var before, after []candidate
	if r.Seed != "" {
		before = []candidate{{token: r.Seed}}
	} else {
		if old == nil || old.RefreshToken == "" {
			return Rotated{}, &NoRefreshTokenError{ClientID: r.Key, Stored: old != nil}
		}
		for _, l := range b.Leftovers(ctx, r.Key, old.RefreshToken) {
			if l.Newer {
				before = append(before, candidate{l.RefreshToken, l.Where})
			} else {
				after = append(after, candidate{l.RefreshToken, l.Where})
			}
		}
		before = append(before, candidate{token: old.RefreshToken})
	}
	var firstErr error
	for i, c := range append(before, after...) {
		if i == maxAttempts {
			break
		}
		g, journalled, err := s.refreshJournalled(ctx, b, r, c.token)
		if err == nil {
			e := r.Entry(g, old)
			if e.Key() != r.Key {
				// A seeded refresh for an entry that is gone: the new entry
				// knows no account yet.
				delete(f.Clients, r.Key)
			}
			f.Clients[e.Key()] = e
			out := Rotated{Entry: e, Refreshed: true, RecoveredFrom: c.from}
			if err := b.Save(ctx, f); err != nil {
				return out, &SaveError{Path: b.Where(), Err: err, Journal: journalled}
			}
			// The store holds the new pair: the journals of this client
			// are stale copies of secrets now.
			b.ClearJournals(ctx, r.Key)
			return out, nil
		}
		if firstErr == nil || c.from == "" {
			// The stored token's answer is the one to report.
			firstErr = err
		}
		if r.Seed != "" || r.Rejected == nil || !r.Rejected(err) {
			return Rotated{}, err
		}
	}
	return Rotated{}, firstErr
}

// refreshJournalled reserves a journal, sends one refresh, and keeps the
// journal only while it may hold a refresh token.
func (s *Store) refreshJournalled(ctx context.Context, b Backend, r Rotation, token string) (Grant, string, error) {
	j, err := b.Reserve(ctx, r.Key)
	if err != nil {
		return Grant{}, "", err
	}
	wrote := false
	g, err := r.Refresh(ctx, token, func(body []byte) {
		wrote = j.Fill(body) == nil
	})
	// A failed refresh whose answer held a token keeps its journal; so
	// does a success until the save (ClearJournals removes it then).
	_ = j.Close(err == nil || wrote)
	where := ""
	if wrote {
		where = journalWhere(j, b)
	}
	return g, where, err
}

// journalWhere names a journal for a message: its file, else the backend.
func journalWhere(j Journal, b Backend) string {
	if f, ok := j.(interface{ Where() string }); ok {
		return f.Where()
	}
	return "a journal of " + b.Where()
}

// journalBody strips the zero bytes a reserved journal still holds.
func journalBody(data []byte) []byte { return bytes.TrimRight(data, "\x00") }
