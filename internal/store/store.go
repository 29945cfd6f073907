// Package store keeps twauth's own record of the tokens it holds, one entry
// per app and X account, and owns the durable sequence of a refresh
// (Rotate: lock, re-read, recover newest first, reserve the journal, send,
// journal, save; docs/design.md, "The durable sequence"). Where the entries
// live is a Backend: the JSON file (0600 in a 0700 directory, written
// atomically under a lock file) by default, or the OS keyring or etcd. It
// is what token, refresh, status, revoke and serve read; the access token
// in Config.toml is only a copy.
package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twauth/twauth/internal/atomicfile"
)

// Version is the format version twauth writes. Version 2 keys entries by
// client id and X account (EntryKey); a version 1 file, keyed by client id
// alone, is a valid version 2 file whose entries have no account, and is
// written back as version 2 by the next save.
const Version = 2

// DefaultLockTimeout bounds the wait for another twauth holding the lock:
// longer than a refresh with all its retries takes.
const DefaultLockTimeout = 60 * time.Second

// Entry is the token set of one X account of one app.
type Entry struct {
	ClientID     string `json:"client_id"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	// Expiry is when the access token dies, RFC 3339 in UTC.
	Expiry time.Time `json:"expiry"`
	// Scope is the space-separated list of granted scopes.
	Scope    string `json:"scope"`
	TokenURL string `json:"token_url"`
	// Confidential records whether the app authenticated with a secret
	// (the secret itself is never stored here).
	Confidential bool `json:"confidential"`
	// UserID is the X account's id (GET /2/users/me), when known: with
	// the client id it keys the entry, so one app holds several accounts.
	UserID   string `json:"user_id,omitempty"`
	Username string `json:"username,omitempty"`
	// Config says where the access token (and refresh token) were copied,
	// so that revoke removes exactly those keys.
	Config *ConfigKeys `json:"config,omitempty"`
	// Serve holds the hashes of the local credentials `twauth serve`
	// issued to the program (never the values, never X's).
	Serve *ServeCredentials `json:"serve,omitempty"`
	// Earlier lists keys an earlier login or refresh of this client wrote
	// that the current one no longer does (another --token-key, another
	// Config.toml): revoke clears each one that still holds that token.
	Earlier   []EarlierKey `json:"earlier,omitempty"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// EarlierKey is a Config.toml key twauth once wrote a token into. It keeps
// the SHA-256 of that token, never the token: enough to recognise the
// value, useless to anyone who reads the store. Kind is "access_token" or
// "refresh_token", the hint revoke sends with it.
type EarlierKey struct {
	Path   string `json:"path"`
	Key    string `json:"key"`
	Kind   string `json:"kind"`
	SHA256 string `json:"sha256"`
}

// MaxEarlier bounds Entry.Earlier; the oldest are dropped first.
const MaxEarlier = 16

// Fingerprint is the hex SHA-256 an EarlierKey holds for a token.
func Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Names reports whether c records key of the file at path (a nil c
// records none).
func (c *ConfigKeys) Names(path, key string) bool {
	return c != nil && path == c.Path && (key == c.TokenKey || key == c.RefreshTokenKey)
}

// written returns the keys c records, each with the fingerprint of the
// token it holds. Stores written before the fingerprints were recorded
// fall back to those of the entry's tokens.
func (c *ConfigKeys) written(access, refresh string) []EarlierKey {
	if c == nil || c.Path == "" {
		return nil
	}
	fp := func(recorded, token string) string {
		if recorded != "" {
			return recorded
		}
		if token != "" {
			return Fingerprint(token)
		}
		return ""
	}
	var out []EarlierKey
	if sum := fp(c.TokenSHA256, access); c.TokenKey != "" && sum != "" {
		out = append(out, EarlierKey{Path: c.Path, Key: c.TokenKey, Kind: "access_token", SHA256: sum})
	}
	if sum := fp(c.RefreshTokenSHA256, refresh); c.RefreshTokenKey != "" && sum != "" {
		out = append(out, EarlierKey{Path: c.Path, Key: c.RefreshTokenKey, Kind: "refresh_token", SHA256: sum})
	}
	return out
}

// CarryEarlier sets e.Earlier from old, the entry e replaces: old's
// earlier keys, plus the keys old wrote that e no longer writes, minus
// those e writes again.
func (e *Entry) CarryEarlier(old *Entry) {
	if old == nil {
		return
	}
	var out []EarlierKey
	add := func(k EarlierKey) {
		if e.Config.Names(k.Path, k.Key) {
			return
		}
		out = slices.DeleteFunc(out, func(x EarlierKey) bool { return x.Path == k.Path && x.Key == k.Key })
		out = append(out, k)
	}
	for _, k := range old.Earlier {
		add(k)
	}
	for _, k := range old.Config.written(old.AccessToken, old.RefreshToken) {
		add(k)
	}
	if len(out) > MaxEarlier {
		out = out[len(out)-MaxEarlier:]
	}
	e.Earlier = out
}

// ConfigKeys names a Config.toml and the keys twauth wrote into it, with
// the SHA-256 of each token written there. A refresh that does not write
// the file (twauth token with no Config.toml) keeps the fingerprints of
// what the file still holds; one whose write of the file fails records the
// new token's, which the next refresh writes into the same key.
type ConfigKeys struct {
	Path               string `json:"path"`
	TokenKey           string `json:"token_key"`
	RefreshTokenKey    string `json:"refresh_token_key,omitempty"`
	TokenSHA256        string `json:"token_sha256,omitempty"`
	RefreshTokenSHA256 string `json:"refresh_token_sha256,omitempty"`
	// Created lists the keys that were not in the file before twauth
	// first wrote them: revoke deletes those and blanks the others, which
	// the program declares (docs/design.md, "Facts about Ballerina"). A
	// store written before this was recorded has none: every key is then
	// blanked, never deleted.
	Created []CreatedKey `json:"created,omitempty"`
}

// ServeCredentials are the local credentials of a program that refreshes
// through `twauth serve`, as SHA-256 hashes (hex): the same fields as
// serve.Credentials.
type ServeCredentials struct {
	ClientID           string `json:"client_id"`
	ClientSecretSHA256 string `json:"client_secret_sha256"`
	RefreshTokenSHA256 string `json:"refresh_token_sha256"`
}

// CreatedKey is a key twauth added to a Config.toml, and the table header
// it added for it ("" when none).
type CreatedKey struct {
	Key   string `json:"key"`
	Table string `json:"table,omitempty"`
}

// CreatedKey returns what c records twauth created for key.
func (c *ConfigKeys) CreatedKey(key string) (CreatedKey, bool) {
	if c == nil {
		return CreatedKey{}, false
	}
	for _, k := range c.Created {
		if k.Key == key {
			return k, true
		}
	}
	return CreatedKey{}, false
}

// File is the whole store. Clients maps EntryKey(client id, account) to
// the entry of that X account of that app.
type File struct {
	Version int               `json:"version"`
	Clients map[string]*Entry `json:"clients"`
}

// EntryKey is the key of an entry: the client id, and "/" and the X user
// id when the account is known.
func EntryKey(clientID, userID string) string {
	if userID == "" {
		return clientID
	}
	return clientID + "/" + userID
}

// ClientIDs returns the client ids held, sorted, each once.
func (f *File) ClientIDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, e := range f.Clients {
		if !seen[e.ClientID] {
			seen[e.ClientID] = true
			ids = append(ids, e.ClientID)
		}
	}
	sort.Strings(ids)
	return ids
}

// Keys returns the keys of every entry, sorted.
func (f *File) Keys() []string {
	return slices.Sorted(maps.Keys(f.Clients))
}

// Accounts returns the entries of clientID, sorted by username then key.
func (f *File) Accounts(clientID string) []*Entry {
	var out []*Entry
	for _, e := range f.Clients {
		if e.ClientID == clientID {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Username != out[j].Username {
			return out[i].Username < out[j].Username
		}
		return out[i].Key() < out[j].Key()
	})
	return out
}

// Entry returns the entry of clientID when the app has one account (or an
// entry with no account); nil when it has none or several.
func (f *File) Entry(clientID string) *Entry {
	if e := f.Clients[clientID]; e != nil {
		return e
	}
	if a := f.Accounts(clientID); len(a) == 1 {
		return a[0]
	}
	return nil
}

// Key is e's key in File.Clients.
func (e *Entry) Key() string { return EntryKey(e.ClientID, e.UserID) }

// Account names e's X account for people: "@name", the user id, or "".
func (e *Entry) Account() string {
	switch {
	case e.Username != "":
		return "@" + e.Username
	case e.UserID != "":
		return "user id " + e.UserID
	}
	return ""
}

// Store is the token store. Its entries live in Backend; nil means the
// JSON file at Path. Pending logins, lock files and journals of the file
// backend live beside Path.
type Store struct {
	Path string
	// Backend, when set, holds the entries instead of the file at Path.
	Backend Backend
	// FS is the filesystem seam for writes; nil means the real one.
	FS atomicfile.FS
	// LockTimeout bounds the wait for the lock; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
}

// DefaultPath is <os.UserConfigDir>/twauth/tokens.json.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", &NoDefaultPathError{Err: err}
	}
	return filepath.Join(dir, "twauth", "tokens.json"), nil
}

// NoDefaultPathError: the system names no user config directory.
type NoDefaultPathError struct{ Err error }

func (e *NoDefaultPathError) Error() string {
	return fmt.Sprintf("no user config directory (%v)", e.Err)
}

// CorruptError is a store file twauth cannot read.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the token store %s is unreadable: %s", e.Path, e.Reason)
}

// Load reads the store without taking the lock: writes replace the file
// atomically, so a reader sees the old or the new file, whole. A missing
// store is an empty one.
func (s *Store) Load() (*File, error) {
	return s.backend().Load(context.Background())
}

// Where names where the entries live (a path, a keyring, an etcd prefix).
func (s *Store) Where() string { return s.backend().Where() }

func (s *Store) loadFile() (*File, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Version: Version, Clients: map[string]*Entry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the token store: %w", err)
	}
	f, err := Decode(data)
	if err != nil {
		return nil, &CorruptError{Path: s.Path, Reason: err.Error()}
	}
	return f, nil
}

// Decode parses the bytes of a store file and checks them.
func Decode(data []byte) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("it is empty")
	}
	f, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Version == 0:
		return nil, errors.New("it has no version: it is not a twauth token store")
	case f.Version > Version:
		return nil, fmt.Errorf("it is format version %d, written by a newer twauth: upgrade twauth", f.Version)
	}
	if f.Clients == nil {
		f.Clients = map[string]*Entry{}
	}
	for id, e := range f.Clients {
		switch {
		case e == nil:
			return nil, fmt.Errorf("the entry of client %q is null", id)
		case EntryKey(e.ClientID, e.UserID) != id:
			return nil, fmt.Errorf("the entry under %q names client %q and account %q", id, e.ClientID, e.UserID)
		}
		// Save writes UTC; a hand-edited offset (even +24:00, which
		// time.Time reads but cannot write back) becomes UTC too.
		e.Expiry, e.UpdatedAt = e.Expiry.UTC(), e.UpdatedAt.UTC()
	}
	return f, nil
}

// decodeJSON is encoding/json's reading of data, with its errors given
// a line and column.
func decodeJSON(data []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, se.Offset)
			return nil, fmt.Errorf("not valid JSON at line %d, column %d", line, col)
		case errors.As(err, &te):
			line, col := position(data, te.Offset)
			return nil, fmt.Errorf("field %q has the wrong type at line %d, column %d", te.Field, line, col)
		case errors.Is(err, io.ErrUnexpectedEOF):
			// The document stops mid-value (a truncated write): point at its end.
			line, col := position(data, int64(len(data)))
			return nil, fmt.Errorf("not valid JSON at line %d, column %d: it ends too soon", line, col)
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	// More alone misses a stray closing ] or }.
	if dec.More() || len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, errors.New("there is data after the JSON object")
	}
	return &f, nil
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col = 1, 1
	for _, b := range data[:offset] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// Encode returns the bytes of f as the store writes them.
func Encode(f *File) ([]byte, error) {
	f.Version = Version
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Lock takes the store's lock (the file backend's: <path>.lock), waiting
// up to LockTimeout.
func (s *Store) Lock(ctx context.Context) (unlock func() error, err error) {
	timeout := s.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	return s.backend().Lock(ctx, timeout)
}

func lockFile(ctx context.Context, path string, timeout time.Duration) (func() error, error) {
	return atomicfile.Lock(ctx, path, timeout)
}

// Save writes f atomically and durably (fsync of file and directory): when
// Save returns nil a crash cannot lose it. The caller holds the lock.
func (s *Store) Save(f *File) error {
	return s.backend().Save(context.Background(), f)
}

func (s *Store) saveFile(f *File) error {
	data, err := Encode(f)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.Path, data, atomicfile.Options{Private: true, FS: s.FS, Locked: true}); err != nil {
		return fmt.Errorf("save the token store: %w", err)
	}
	return nil
}

// Update runs fn on the store under its lock and saves the result. fn's
// error aborts the update with nothing written.
func (s *Store) Update(ctx context.Context, fn func(f *File) error) error {
	return s.UpdateClearing(ctx, func(f *File) ([]string, error) { return nil, fn(f) })
}

// UpdateClearing is Update whose fn also names entries whose journals go
// once the save has succeeded, still under the lock: journals are removed
// only when the store holds what supersedes them, and never while another
// run could be writing one.
func (s *Store) UpdateClearing(ctx context.Context, fn func(f *File) (clear []string, err error)) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	b := s.backend()
	f, err := b.Load(ctx)
	if err != nil {
		return err
	}
	clear, err := fn(f)
	if err != nil {
		return err
	}
	if err := b.Save(ctx, f); err != nil {
		return err
	}
	for _, k := range clear {
		b.ClearJournals(ctx, k)
	}
	return nil
}

// RenameJournals moves the journals of the file backend's entry oldKey to
// newKey, when an entry changes key (an account known by name only, moved
// aside by a login): they must keep following their chain. The caller
// holds the lock. Backends that keep journals elsewhere never hold entries
// of that kind.
func (s *Store) RenameJournals(oldKey, newKey string) error {
	dir, oldPrefix, err := s.journalPrefix(oldKey)
	if err != nil {
		return err
	}
	_, newPrefix, err := s.journalPrefix(newKey)
	if err != nil {
		return err
	}
	for _, p := range s.journals(oldKey) {
		if err := os.Rename(p, filepath.Join(dir, newPrefix+strings.TrimPrefix(filepath.Base(p), oldPrefix))); err != nil {
			return err
		}
	}
	return nil
}

// LoosePermissions reports whether the file at path can be read or written
// by group or others, and its mode.
func LoosePermissions(path string) (os.FileMode, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return fi.Mode().Perm(), fi.Mode().Perm()&0o077 != 0
}

// Journal puts the raw body of X's answer to a refresh of clientID on disk
// the way a refresh does (Rotate journals through Backend.Reserve): a file
// beside the store (0600, no fsync: it guards against a killed process, the
// store's own write against a power cut), named after the client id so that
// only that client's saves remove it and Orphans finds its refresh token
// until then. The caller holds the lock.
func (s *Store) Journal(clientID string, body []byte) error {
	j, err := s.reserveJournal(clientID)
	if err != nil {
		return err
	}
	if err := j.Fill(body); err != nil {
		j.Close(false)
		return err
	}
	return j.Close(true)
}

// Leftovers lists what killed runs left for clientID (Backend.Leftovers).
// The caller holds the lock.
func (s *Store) Leftovers(ctx context.Context, clientID, current string) []Leftover {
	return s.backend().Leftovers(ctx, clientID, current)
}

// ClearJournals removes clientID's journals (Backend.ClearJournals). The
// caller holds the lock.
func (s *Store) ClearJournals(ctx context.Context, clientID string) {
	s.backend().ClearJournals(ctx, clientID)
}

// RemoveJournals removes, best effort, the journals of clientID: once the
// store holds that client's new tokens (or no longer holds the client),
// they are stale copies of secrets. The caller holds the lock.
func (s *Store) RemoveJournals(clientID string) {
	for _, p := range s.journals(clientID) {
		_ = os.Remove(p)
	}
}

// journalPrefix is the directory and the name prefix of clientID's
// journals: beside the store's target, ".<store>.journal-<hash>-".
func (s *Store) journalPrefix(clientID string) (dir, prefix string, err error) {
	target, err := atomicfile.Target(s.Path)
	if err != nil {
		return "", "", err
	}
	return filepath.Dir(target), "." + filepath.Base(target) + ".journal-" + Fingerprint(clientID)[:16] + "-", nil
}

// journals lists the journal files of clientID.
func (s *Store) journals(clientID string) []string {
	dir, prefix, err := s.journalPrefix(clientID)
	if err != nil {
		return nil
	}
	return filesWithPrefix(dir, prefix)
}

// filesWithPrefix lists the regular files in dir whose names start with
// prefix.
func filesWithPrefix(dir, prefix string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), prefix) && de.Type().IsRegular() {
			out = append(out, filepath.Join(dir, de.Name()))
		}
	}
	return out
}

// RefreshTokenOf reads the refresh token from the raw body of a token answer
// (a journal):
// JSON, as X sends, or a form-encoded body (RFC 6749 allows neither, but
// golang.org/x/oauth2 reads both). An answer cut short gives none.
func RefreshTokenOf(body []byte) string {
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

// Orphan is the entry of a client in a temporary store file that a twauth
// killed between writing it and renaming it over the store left behind, or
// the refresh token of a journal (see Journal): then Entry holds only
// ClientID and RefreshToken.
type Orphan struct {
	Path  string
	Entry *Entry
}

// Orphans returns, newest first, the entries for clientID that the
// leftover temporary files of the store hold with a refresh token other
// than current. Such a file may hold the only copy of a refresh token that
// X rotated just before the kill. Files that do not parse (a write cut
// short), and files another user owns or could have written, are skipped
// (docs/design.md, "Security rules"). The caller holds the lock.
func (s *Store) Orphans(clientID, current string) []Orphan {
	found := s.orphans(clientID, current)
	out := make([]Orphan, len(found))
	for i, f := range found {
		out[i] = f.Orphan
	}
	return out
}

// orphan is an Orphan with the time its file was last written, and
// whether it is a journal (else a temporary store file).
type orphan struct {
	Orphan
	mod     time.Time
	journal bool
}

func (s *Store) orphans(clientID, current string) []orphan {
	target, err := atomicfile.Target(s.Path)
	if err != nil {
		return nil
	}
	var fs []orphan
	add := func(p string, journal bool, read func(data []byte) *Entry) {
		info, err := os.Lstat(p)
		if err != nil || !info.Mode().IsRegular() || info.Size() > maxOrphanSize || !ownedPrivate(info) {
			return
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return
		}
		if e := read(data); e != nil && e.RefreshToken != "" && e.RefreshToken != current {
			fs = append(fs, orphan{Orphan{Path: p, Entry: e}, info.ModTime(), journal})
		}
	}
	for _, p := range filesWithPrefix(filepath.Dir(target), "."+filepath.Base(target)+".tmp-") {
		add(p, false, func(data []byte) *Entry {
			if f, err := Decode(data); err == nil {
				return f.Clients[clientID]
			}
			return nil
		})
	}
	for _, p := range s.journals(clientID) {
		add(p, true, func(data []byte) *Entry {
			return &Entry{ClientID: clientID, RefreshToken: RefreshTokenOf(journalBody(data))}
		})
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].mod.After(fs[j].mod) })
	return fs
}

// maxOrphanSize bounds what Orphans reads: a store is a few KB.
const maxOrphanSize = 1 << 20

// UnsafeError: the store's directory or file can be written by another
// user.
type UnsafeError struct {
	Path string
	Dir  bool
	// OtherOwner: owned by the user with UID; else Mode lets group or
	// others write.
	OtherOwner bool
	UID        int
	Mode       os.FileMode
}

func (e *UnsafeError) Error() string {
	what := "the token store file"
	if e.Dir {
		what = "the token store's directory"
	}
	if e.OtherOwner {
		return fmt.Sprintf("%s %s belongs to another user (uid %d), who could swap in tokens of their own", what, e.Path, e.UID)
	}
	return fmt.Sprintf("%s %s can be written by other users (mode %04o), who could swap in tokens of their own", what, e.Path, e.Mode)
}

// Fix is the command that makes the path safe.
func (e *UnsafeError) Fix() string {
	mode := "600"
	if e.Dir {
		mode = "700"
	}
	if e.OtherOwner {
		return fmt.Sprintf("chown $(id -u) %s && chmod %s %s (or keep the store in a directory of your own with --store)", e.Path, mode, e.Path)
	}
	return fmt.Sprintf("chmod %s %s (or keep the store in a directory of your own with --store)", mode, e.Path)
}
