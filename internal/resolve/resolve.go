// Package resolve decides, once, what a twauth command acts on: which X app
// (client id and secret), which Config.toml, which keys in it, which
// endpoints. Resolve is a pure function of its Input — the flags and
// environment as the command line read them, a snapshot of the token store,
// and a reader of Config.toml files — so every rule is table-tested on its
// own, and `twauth status` can show the result with where each value came
// from. The rules are those of docs/design.md, "Resolution".
package resolve

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/twauth/twauth/internal/store"
)

// Setting is one value and where it came from, in words a user recognises:
// "--client-id", "TWAUTH_CLIENT_ID", "Config.toml key clientId", "default".
// An unset Setting has an empty From.
type Setting struct {
	Value string `json:"value"`
	From  string `json:"from"`
}

// Set reports whether s was given.
func (s Setting) Set() bool { return s.From != "" }

// Use says how the command uses a login, which changes a few rules.
type Use int

const (
	// NewLogin: login, url, exchange. The client id must be given (flag,
	// environment or Config.toml); nothing is taken from the store.
	NewLogin Use = iota
	// ExistingLogin: token, refresh, status, revoke, serve. A missing
	// client id is taken from the store; with no ./Config.toml the file
	// the login recorded is followed.
	ExistingLogin
)

// Flags are the explicit settings, as the command line read them (flag or
// TWAUTH_* variable), each with its origin. Unset ones have an empty From.
type Flags struct {
	Config          Setting
	ClientID        Setting
	ClientSecret    Setting
	TokenKey        Setting
	RefreshTokenKey Setting
	ClientIDKey     Setting
	ClientSecretKey Setting
	AuthURL         Setting
	TokenURL        Setting
	RevokeURL       Setting
	APIURL          Setting
	// Account picks one X account of the app: "@name", "name" or the
	// user id.
	Account Setting
}

// Config is what Resolve needs of a Config.toml: one string key at a time.
// *balconfig.Doc satisfies it.
type Config interface {
	Get(keyPath string) (value string, found bool, err error)
}

// ConfigReader opens the Config.toml at an absolute path. A missing file is
// not an error: exists is false (and cfg may be nil). The caller decides
// how much to parse (the token fast path reads only the keys asked for)
// and keeps what it parsed for the command to reuse.
type ConfigReader func(path string) (cfg Config, exists bool, err error)

// Input is everything Resolve decides from.
type Input struct {
	Use   Use
	Flags Flags
	// Getenv reads BAL_CONFIG_FILES; nil reads nothing.
	Getenv func(string) string
	// Dir is the working directory, absolute: relative paths are made
	// absolute against it.
	Dir string
	// Store is a snapshot of the token store; nil is an empty one.
	Store *store.File
	// StorePath is where the store lives, for the Target.
	StorePath string
	// ReadConfig reads a Config.toml.
	ReadConfig ConfigReader
	// Seeded: a refresh token was passed in (--refresh-token or
	// TWAUTH_REFRESH_TOKEN), as a CI job does in a fresh checkout: the
	// Config.toml a login recorded elsewhere is not followed.
	Seeded bool
}

// Default values (docs/design.md, "Resolution").
const (
	DefaultTokenKey        = "token"
	DefaultClientIDKey     = "clientId"
	DefaultClientSecretKey = "clientSecret"
	DefaultConfigFile      = "Config.toml"
)

// Target is what a command acts on.
type Target struct {
	ClientID Setting
	// ClientSecret's Value is the secret; From says where it came from
	// and is empty for a public client.
	ClientSecret Setting
	// SecretNote says why a secret found in Config.toml was not used.
	SecretNote string

	// ConfigPath is the absolute path of the Config.toml; ConfigWhy says
	// why that one.
	ConfigPath string
	ConfigWhy  string
	// ConfigExists reports whether the file exists now.
	ConfigExists bool
	// Config is the file as ReadConfig returned it (nil when missing).
	Config Config
	// ConfigClientID is the client id the Config.toml names, if any.
	ConfigClientID string
	// Conflict is set when Config.toml names another client id than the
	// one in force: no token of this app may be written there.
	Conflict *ConflictError

	// Account is the X account acted for ("@name"), with where that came
	// from; empty when the app has no stored account yet.
	Account Setting
	// Key is the store entry the command acts on (store.EntryKey).
	Key string

	TokenKey        Setting
	RefreshTokenKey Setting
	ClientIDKey     string
	ClientSecretKey string

	AuthURL, TokenURL, RevokeURL, APIURL Setting

	StorePath string
}

// Confidential reports whether a client secret is in force.
func (t *Target) Confidential() bool { return t.ClientSecret.Value != "" }

// ConflictError: the Config.toml names another app than the one in force.
type ConflictError struct {
	Path           string
	ConfigClientID string
	ClientID       string
	ClientIDFrom   string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s names client id %s, but the client id in force is %s (from %s): a token of %s would not work for the program that file configures, so twauth does not write it there",
		e.Path, e.ConfigClientID, e.ClientID, e.ClientIDFrom, e.ClientID)
}

// NoClientError: no client id could be settled.
type NoClientError struct {
	// ConfigPath is the Config.toml that could have named it.
	ConfigPath  string
	ClientIDKey string
	// Several lists the apps of the store when more than one could be
	// meant; empty when the store holds none.
	Several []string
	// Use is the command's use: a new login needs an id given; an
	// existing one with an empty store needs a login.
	Use Use
}

func (e *NoClientError) Error() string {
	if len(e.Several) > 0 {
		return fmt.Sprintf("the token store holds several apps (%s) and nothing says which one is meant", strings.Join(e.Several, ", "))
	}
	if e.Use == ExistingLogin {
		return "no token is stored and no client id is set"
	}
	return "no client id"
}

// Resolve settles the Target of a command. It reads Config.toml files only
// through in.ReadConfig and changes nothing.
func Resolve(in Input) (*Target, error) {
	if in.Getenv == nil {
		in.Getenv = func(string) string { return "" }
	}
	if in.Store == nil {
		in.Store = &store.File{Clients: map[string]*store.Entry{}}
	}
	t := &Target{
		ClientIDKey:     orDefault(in.Flags.ClientIDKey, DefaultClientIDKey).Value,
		ClientSecretKey: orDefault(in.Flags.ClientSecretKey, DefaultClientSecretKey).Value,
		AuthURL:         in.Flags.AuthURL,
		TokenURL:        in.Flags.TokenURL,
		RevokeURL:       in.Flags.RevokeURL,
		APIURL:          in.Flags.APIURL,
		StorePath:       in.StorePath,
	}
	if err := t.resolveConfig(in); err != nil {
		return nil, err
	}
	if err := t.resolveClient(in); err != nil {
		return nil, err
	}
	if err := t.resolveAccount(in); err != nil {
		return nil, err
	}
	t.resolveKeys(in)
	return t, nil
}

// AccountError: the app has several accounts and nothing says which, or
// the account asked for is not stored.
type AccountError struct {
	ClientID string
	// Asked is the account asked for; empty when none was.
	Asked string
	// Accounts lists the stored accounts of the app ("@name").
	Accounts []string
}

func (e *AccountError) Error() string {
	if e.Asked != "" {
		return fmt.Sprintf("no account %s of app %s is stored (stored: %s)", e.Asked, e.ClientID, strings.Join(e.Accounts, ", "))
	}
	return fmt.Sprintf("app %s has several accounts stored (%s) and nothing says which one is meant", e.ClientID, strings.Join(e.Accounts, ", "))
}

// resolveAccount picks the store entry: the account asked for; else the
// app's only one; else the one whose login recorded this Config.toml. A
// new login acts for whoever logs in: its entry is keyed once X says who.
func (t *Target) resolveAccount(in Input) error {
	t.Key = store.EntryKey(t.ClientID.Value, "")
	entries := in.Store.Accounts(t.ClientID.Value)
	names := func() []string {
		var out []string
		for _, e := range entries {
			n := e.Account()
			if n == "" {
				n = "an account of unknown name"
			}
			out = append(out, n)
		}
		return out
	}
	pick := func(e *store.Entry, from string) {
		t.Key = e.Key()
		t.Account = Setting{Value: e.Account(), From: from}
	}
	if a := in.Flags.Account; a.Set() && a.Value != "" {
		want := strings.TrimPrefix(a.Value, "@")
		for _, e := range entries {
			if strings.EqualFold(e.Username, want) || e.UserID == want {
				pick(e, a.From)
				return nil
			}
		}
		if in.Use == NewLogin {
			return nil
		}
		return &AccountError{ClientID: t.ClientID.Value, Asked: a.Value, Accounts: names()}
	}
	// A new login acts for whoever logs in; the entry picked here is only
	// the one it most likely replaces, so nothing is refused.
	switch len(entries) {
	case 0:
		return nil
	case 1:
		pick(entries[0], "the store: the app's only account")
		return nil
	}
	var recorded []*store.Entry
	for _, e := range entries {
		if e.Config != nil && e.Config.Path == t.ConfigPath {
			recorded = append(recorded, e)
		}
	}
	if len(recorded) == 1 {
		pick(recorded[0], "the store: the account whose login wrote "+filepath.Base(t.ConfigPath))
		return nil
	}
	if in.Use == NewLogin {
		return nil
	}
	return &AccountError{ClientID: t.ClientID.Value, Accounts: names()}
}

func orDefault(s Setting, def string) Setting {
	if s.Set() && s.Value != "" {
		return s
	}
	return Setting{Value: def, From: "default"}
}

func (in Input) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(in.Dir, p)
}

// resolveConfig picks the Config.toml (docs/design.md, "Resolution",
// Config.toml) and reads it.
func (t *Target) resolveConfig(in Input) error {
	path, why := "", ""
	switch {
	case in.Flags.Config.Set() && in.Flags.Config.Value != "":
		path, why = in.Flags.Config.Value, in.Flags.Config.From
	default:
		for _, f := range filepath.SplitList(in.Getenv("BAL_CONFIG_FILES")) {
			if f != "" {
				path, why = f, "the first file of BAL_CONFIG_FILES"
				break
			}
		}
	}
	if path != "" {
		return t.readConfig(in, in.abs(path), why)
	}
	local := in.abs(DefaultConfigFile)
	cfg, exists, err := in.ReadConfig(local)
	if err != nil {
		return err
	}
	if exists {
		return t.setConfig(in, local, "Config.toml in the working directory", cfg, true)
	}
	// No Config.toml here: a command on an existing login follows the
	// file its login wrote (a cron job run from $HOME means the program's
	// file), unless a refresh token was passed in (CI: a fresh checkout).
	if in.Use == ExistingLogin && !in.Seeded {
		if e := in.guessEntry(); e != nil && e.Config != nil && e.Config.Path != "" && e.Config.Path != local {
			cfg, exists, err := in.ReadConfig(e.Config.Path)
			if err == nil && exists {
				id, named, gerr := cfg.Get(t.ClientIDKey)
				if gerr == nil && (!named || id == "" || id == e.ClientID) {
					return t.setConfig(in, e.Config.Path, "recorded by the login of app "+e.ClientID+" (no Config.toml in the working directory)", cfg, true)
				}
			}
		}
	}
	return t.setConfig(in, local, "Config.toml in the working directory, created on first write", nil, false)
}

// guessEntry is the store entry a command on an existing login most likely
// means before Config.toml is known: the app of the client id given, else
// the only app stored.
func (in Input) guessEntry() *store.Entry {
	id := in.Flags.ClientID.Value
	if !in.Flags.ClientID.Set() || id == "" {
		ids := in.Store.ClientIDs()
		if len(ids) != 1 {
			return nil
		}
		id = ids[0]
	}
	entries := in.Store.Accounts(id)
	if a := in.Flags.Account; a.Set() && a.Value != "" {
		want := strings.TrimPrefix(a.Value, "@")
		for _, e := range entries {
			if strings.EqualFold(e.Username, want) || e.UserID == want {
				return e
			}
		}
		return nil
	}
	if len(entries) == 1 {
		return entries[0]
	}
	return nil
}

func (t *Target) readConfig(in Input, path, why string) error {
	cfg, exists, err := in.ReadConfig(path)
	if err != nil {
		return err
	}
	if !exists {
		why += ", created on first write"
	}
	return t.setConfig(in, path, why, cfg, exists)
}

func (t *Target) setConfig(in Input, path, why string, cfg Config, exists bool) error {
	t.ConfigPath, t.ConfigWhy, t.ConfigExists = path, why, exists
	if !exists {
		return nil
	}
	t.Config = cfg
	id, found, err := cfg.Get(t.ClientIDKey)
	if err != nil {
		return err
	}
	if found {
		t.ConfigClientID = id
	}
	return nil
}

// resolveClient settles the client id and its secret.
func (t *Target) resolveClient(in Input) error {
	cfgKey := fmt.Sprintf("%s key %s", filepath.Base(t.ConfigPath), t.ClientIDKey)
	switch f := in.Flags.ClientID; {
	case f.Set() && f.Value != "":
		t.ClientID = f
	case t.ConfigClientID != "":
		t.ClientID = Setting{Value: t.ConfigClientID, From: cfgKey}
	case in.Use == ExistingLogin:
		// The app whose login recorded this Config.toml, else the only
		// app stored.
		var recorded []string
		for _, id := range in.Store.ClientIDs() {
			for _, e := range in.Store.Accounts(id) {
				if e.Config != nil && e.Config.Path == t.ConfigPath {
					recorded = append(recorded, id)
					break
				}
			}
		}
		ids := in.Store.ClientIDs()
		switch {
		case len(recorded) == 1:
			t.ClientID = Setting{Value: recorded[0], From: "the store: the app whose login wrote " + filepath.Base(t.ConfigPath)}
		case len(ids) == 1:
			t.ClientID = Setting{Value: ids[0], From: "the store: its only app"}
		case len(ids) == 0:
			return &NoClientError{ConfigPath: t.ConfigPath, ClientIDKey: t.ClientIDKey, Use: in.Use}
		default:
			several := ids
			if len(recorded) > 1 {
				several = recorded
			}
			return &NoClientError{ConfigPath: t.ConfigPath, ClientIDKey: t.ClientIDKey, Several: several, Use: in.Use}
		}
	default:
		return &NoClientError{ConfigPath: t.ConfigPath, ClientIDKey: t.ClientIDKey, Use: in.Use}
	}
	if t.ConfigClientID != "" && t.ConfigClientID != t.ClientID.Value {
		t.Conflict = &ConflictError{Path: t.ConfigPath, ConfigClientID: t.ConfigClientID, ClientID: t.ClientID.Value, ClientIDFrom: t.ClientID.From}
	}

	if strings.HasPrefix(t.ClientID.Value, LocalPrefix) {
		return &LocalCredentialError{What: "client id", From: t.ClientID.From}
	}
	// The secret travels with its client id.
	if s := in.Flags.ClientSecret; s.Set() && s.Value != "" {
		if strings.HasPrefix(s.Value, LocalPrefix) {
			return &LocalCredentialError{What: "client secret", From: s.From}
		}
		t.ClientSecret = s
		return nil
	}
	if t.Config == nil {
		return nil
	}
	secret, found, err := t.Config.Get(t.ClientSecretKey)
	if err != nil || !found || secret == "" {
		return err
	}
	from := fmt.Sprintf("%s key %s", filepath.Base(t.ConfigPath), t.ClientSecretKey)
	switch {
	case strings.HasPrefix(secret, LocalPrefix):
		return &LocalCredentialError{What: "client secret", From: from}
	case t.ConfigClientID == t.ClientID.Value:
		t.ClientSecret = Setting{Value: secret, From: from}
	case t.ConfigClientID == "":
		t.SecretNote = fmt.Sprintf("%s has %s but no %s, so twauth cannot tell which app it belongs to: it was not sent with client id %s", t.ConfigPath, t.ClientSecretKey, t.ClientIDKey, t.ClientID.Value)
	default:
		t.SecretNote = fmt.Sprintf("%s belongs to client id %s, not %s: it was not sent", t.ClientSecretKey, t.ConfigClientID, t.ClientID.Value)
	}
	return nil
}

// resolveKeys settles the keys the tokens go to: given, else those the
// app's login recorded for this very file, else the defaults.
func (t *Target) resolveKeys(in Input) {
	var rec *store.ConfigKeys
	if e := in.Store.Clients[t.Key]; e != nil && e.Config != nil && e.Config.Path == t.ConfigPath {
		rec = e.Config
	}
	const recorded = "recorded by the login that wrote this Config.toml"
	switch f := in.Flags.TokenKey; {
	case f.Set() && f.Value != "":
		t.TokenKey = f
	case rec != nil && rec.TokenKey != "":
		t.TokenKey = Setting{Value: rec.TokenKey, From: recorded}
	default:
		t.TokenKey = Setting{Value: DefaultTokenKey, From: "default"}
	}
	switch f := in.Flags.RefreshTokenKey; {
	case f.Set():
		t.RefreshTokenKey = f
	case rec != nil && rec.RefreshTokenKey != "":
		t.RefreshTokenKey = Setting{Value: rec.RefreshTokenKey, From: recorded}
	default:
		t.RefreshTokenKey = Setting{From: "default: the refresh token stays in the store"}
	}
}

// LocalPrefix starts every credential `twauth serve` issues to a program
// (serve.LocalPrefix): such a value is never sent to X as X's.
const LocalPrefix = "twauth-local-"

// LocalCredentialError: a value twauth serve issued for a program's use is
// where X's client id or secret is read from.
type LocalCredentialError struct{ What, From string }

func (e *LocalCredentialError) Error() string {
	return fmt.Sprintf("the %s from %s is a local credential issued to the program for twauth's token endpoint, not X's: it is never sent to X", e.What, e.From)
}

// KeyClashError: a token key is the key of the client id or secret, so
// writing the token would overwrite them.
type KeyClashError struct{ Key, With string }

func (e *KeyClashError) Error() string {
	return fmt.Sprintf("the token key %q is also the key of the %s: writing a token there would overwrite it", e.Key, e.With)
}

// CheckKeys refuses token keys that equal the client id or secret keys.
func (t *Target) CheckKeys() error {
	for _, k := range []string{t.TokenKey.Value, t.RefreshTokenKey.Value} {
		switch {
		case k == "":
		case k == t.ClientIDKey:
			return &KeyClashError{Key: k, With: "client id (" + t.ClientIDKey + ")"}
		case k == t.ClientSecretKey:
			return &KeyClashError{Key: k, With: "client secret (" + t.ClientSecretKey + ")"}
		}
	}
	if t.TokenKey.Value != "" && t.TokenKey.Value == t.RefreshTokenKey.Value {
		return &KeyClashError{Key: t.TokenKey.Value, With: "refresh token as well"}
	}
	return nil
}

// Keys lists the non-empty token keys.
func (t *Target) Keys() []string {
	return slices.DeleteFunc([]string{t.TokenKey.Value, t.RefreshTokenKey.Value}, func(s string) bool { return s == "" })
}
