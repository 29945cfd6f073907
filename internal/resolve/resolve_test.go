package resolve

import (
	"errors"
	"strings"
	"testing"

	"github.com/twauth/twauth/internal/store"
)

// files is an in-memory set of Config.toml files: path → key → value.
type files map[string]map[string]string

type memConfig map[string]string

func (m memConfig) Get(k string) (string, bool, error) {
	v, ok := m[k]
	return v, ok, nil
}

func (fs files) read(path string) (Config, bool, error) {
	if m, ok := fs[path]; ok {
		return memConfig(m), true, nil
	}
	return nil, false, nil
}

func flag(v string) Setting { return Setting{Value: v, From: "--flag"} }

func entry(id, user, name, cfg string) *store.Entry {
	e := &store.Entry{ClientID: id, UserID: user, Username: name}
	if cfg != "" {
		e.Config = &store.ConfigKeys{Path: cfg, TokenKey: "token"}
	}
	return e
}

func storeOf(es ...*store.Entry) *store.File {
	f := &store.File{Version: store.Version, Clients: map[string]*store.Entry{}}
	for _, e := range es {
		f.Clients[e.Key()] = e
	}
	return f
}

// TestResolve holds every rule of docs/design.md, "Resolution", a row each.
func TestResolve(t *testing.T) {
	const (
		dir   = "/work/proj"
		local = "/work/proj/Config.toml"
		other = "/srv/bot/Config.toml"
	)
	tests := []struct {
		name   string
		in     Input
		files  files
		env    map[string]string
		check  func(t *testing.T, tg *Target)
		errHas string
		err    any
	}{
		// Config.toml.
		{name: "config 1: --config wins", in: Input{Flags: Flags{Config: flag("x.toml"), ClientID: flag("a")}},
			files: files{local: {}, "/work/proj/x.toml": {}}, env: map[string]string{"BAL_CONFIG_FILES": "b.toml"},
			check: func(t *testing.T, tg *Target) { want(t, tg.ConfigPath, "/work/proj/x.toml", tg.ConfigWhy, "--flag") }},
		{name: "config 2: BAL_CONFIG_FILES, first non-empty entry", in: Input{Flags: Flags{ClientID: flag("a")}},
			files: files{local: {}}, env: map[string]string{"BAL_CONFIG_FILES": ":/etc/b.toml:c.toml"},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ConfigPath, "/etc/b.toml", tg.ConfigWhy, "the first file of BAL_CONFIG_FILES, created on first write")
			}},
		{name: "config 3: ./Config.toml when it exists", in: Input{Use: ExistingLogin, Store: storeOf(entry("a", "", "", other))},
			files: files{local: {}, other: {}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ConfigPath, local, tg.ConfigWhy, "Config.toml in the working directory")
			}},
		{name: "config 4: the file login recorded, when none is here", in: Input{Use: ExistingLogin, Store: storeOf(entry("a", "", "", other))},
			files: files{other: {}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ConfigPath, other, tg.ConfigWhy, "recorded by the login of app a (no Config.toml in the working directory)")
			}},
		{name: "config 4: not when it names another app", in: Input{Use: ExistingLogin, Store: storeOf(entry("a", "", "", other))},
			files: files{other: {"clientId": "b"}},
			check: func(t *testing.T, tg *Target) { want(t, tg.ConfigPath, local, tg.ClientID.Value, "a") }},
		{name: "config 4: not for a seeded refresh token (CI)", in: Input{Use: ExistingLogin, Seeded: true, Store: storeOf(entry("a", "", "", other))},
			files: files{other: {}},
			check: func(t *testing.T, tg *Target) { want(t, tg.ConfigPath, local) }},
		{name: "config 4: not for a new login", in: Input{Use: NewLogin, Flags: Flags{ClientID: flag("a")}, Store: storeOf(entry("a", "", "", other))},
			files: files{other: {}},
			check: func(t *testing.T, tg *Target) { want(t, tg.ConfigPath, local) }},
		{name: "config 5: ./Config.toml, created on first write", in: Input{Flags: Flags{ClientID: flag("a")}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ConfigPath, local, tg.ConfigWhy, "Config.toml in the working directory, created on first write")
				if tg.ConfigExists {
					t.Error("exists")
				}
			}},

		// Client id.
		{name: "client id 1: the flag over the file", in: Input{Flags: Flags{ClientID: flag("a")}}, files: files{local: {"clientId": "b"}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ClientID.Value, "a", tg.ClientID.From, "--flag")
				if tg.Conflict == nil || tg.Conflict.ConfigClientID != "b" {
					t.Errorf("conflict %+v", tg.Conflict)
				}
			}},
		{name: "client id 2: the file's clientId", in: Input{}, files: files{local: {"clientId": "b"}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ClientID.Value, "b", tg.ClientID.From, "Config.toml key clientId")
			}},
		{name: "client id 2: another key name", in: Input{Flags: Flags{ClientIDKey: flag("app.id")}}, files: files{local: {"app.id": "b"}},
			check: func(t *testing.T, tg *Target) { want(t, tg.ClientID.Value, "b", tg.ClientIDKey, "app.id") }},
		{name: "client id 3: the app whose login wrote this file", in: Input{Use: ExistingLogin, Store: storeOf(entry("a", "", "", local), entry("b", "", "", other))},
			files: files{local: {"token": "x"}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ClientID.Value, "a", tg.ClientID.From, "the store: the app whose login wrote Config.toml")
			}},
		{name: "client id 4: the store's only app", in: Input{Use: ExistingLogin, Store: storeOf(entry("a", "", "", ""))},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ClientID.Value, "a", tg.ClientID.From, "the store: its only app")
			}},
		{name: "client id 5: several apps", in: Input{Use: ExistingLogin, Store: storeOf(entry("a", "", "", ""), entry("b", "", "", ""))},
			errHas: "several apps (a, b)", err: &NoClientError{}},
		{name: "client id 5: none stored", in: Input{Use: ExistingLogin}, errHas: "no token is stored", err: &NoClientError{}},
		{name: "client id 5: a new login needs one", in: Input{Use: NewLogin, Store: storeOf(entry("a", "", "", ""))}, errHas: "no client id", err: &NoClientError{}},

		// Client secret.
		{name: "secret 1: the flag", in: Input{Flags: Flags{ClientSecret: flag("s")}}, files: files{local: {"clientId": "a", "clientSecret": "f"}},
			check: func(t *testing.T, tg *Target) { want(t, tg.ClientSecret.Value, "s") }},
		{name: "secret 2: the file's, with the file's id", in: Input{}, files: files{local: {"clientId": "a", "clientSecret": "f"}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ClientSecret.Value, "f", tg.ClientSecret.From, "Config.toml key clientSecret")
			}},
		{name: "secret 2: never with another app's id", in: Input{Flags: Flags{ClientID: flag("b")}}, files: files{local: {"clientId": "a", "clientSecret": "f"}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ClientSecret.Value, "")
				if !strings.Contains(tg.SecretNote, "belongs to client id a") {
					t.Errorf("note %q", tg.SecretNote)
				}
			}},
		{name: "secret 2: not from a file that names no app", in: Input{Flags: Flags{ClientID: flag("b")}}, files: files{local: {"clientSecret": "f"}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.ClientSecret.Value, "")
				if !strings.Contains(tg.SecretNote, "cannot tell which app") {
					t.Errorf("note %q", tg.SecretNote)
				}
			}},
		{name: "secret 3: none, a public client", in: Input{}, files: files{local: {"clientId": "a"}},
			check: func(t *testing.T, tg *Target) {
				if tg.Confidential() {
					t.Error("confidential")
				}
			}},
		{name: "secret: a local credential is never X's", in: Input{}, files: files{local: {"clientId": "a", "clientSecret": "twauth-local-x"}},
			err: &LocalCredentialError{}},
		{name: "client id: a local one is never X's", in: Input{Flags: Flags{ClientID: flag("twauth-local-x")}}, err: &LocalCredentialError{}},

		// X account.
		{name: "account 1: --account by name", in: Input{Use: ExistingLogin, Flags: Flags{ClientID: flag("a"), Account: flag("@Bob")},
			Store: storeOf(entry("a", "1", "alice", ""), entry("a", "2", "bob", ""))},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.Key, "a/2", tg.Account.Value, "@bob", tg.Account.From, "--flag")
			}},
		{name: "account 1: --account by user id", in: Input{Use: ExistingLogin, Flags: Flags{ClientID: flag("a"), Account: flag("1")},
			Store: storeOf(entry("a", "1", "alice", ""), entry("a", "2", "bob", ""))},
			check: func(t *testing.T, tg *Target) { want(t, tg.Key, "a/1") }},
		{name: "account 1: not stored", in: Input{Use: ExistingLogin, Flags: Flags{ClientID: flag("a"), Account: flag("@carol")},
			Store: storeOf(entry("a", "1", "alice", ""))}, errHas: "no account @carol of app a is stored (stored: @alice)", err: &AccountError{}},
		{name: "account 2: the only account", in: Input{Use: ExistingLogin, Store: storeOf(entry("a", "1", "alice", ""))},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.Key, "a/1", tg.Account.From, "the store: the app's only account")
			}},
		{name: "account 3: the one whose login wrote this file", in: Input{Use: ExistingLogin, Flags: Flags{ClientID: flag("a")},
			Store: storeOf(entry("a", "1", "alice", local), entry("a", "2", "bob", other))}, files: files{local: {}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.Key, "a/1", tg.Account.From, "the store: the account whose login wrote Config.toml")
			}},
		{name: "account 4: several, nothing says which", in: Input{Use: ExistingLogin, Flags: Flags{ClientID: flag("a")},
			Store: storeOf(entry("a", "1", "alice", other), entry("a", "2", "bob", other))}, files: files{local: {}},
			errHas: "several accounts stored (@alice, @bob)", err: &AccountError{}},
		{name: "account: a new login only guesses", in: Input{Use: NewLogin, Flags: Flags{ClientID: flag("a")},
			Store: storeOf(entry("a", "1", "alice", other), entry("a", "2", "bob", other))},
			check: func(t *testing.T, tg *Target) { want(t, tg.Key, "a") }},

		// Token keys.
		{name: "keys 1: the flags", in: Input{Use: ExistingLogin, Flags: Flags{TokenKey: flag("x.t"), RefreshTokenKey: flag("x.r")}, Store: storeOf(entry("a", "", "", local))},
			files: files{local: {}},
			check: func(t *testing.T, tg *Target) { want(t, tg.TokenKey.Value, "x.t", tg.RefreshTokenKey.Value, "x.r") }},
		{name: "keys 2: recorded for this file", in: Input{Use: ExistingLogin, Store: storeOf(func() *store.Entry {
			e := entry("a", "", "", local)
			e.Config.TokenKey, e.Config.RefreshTokenKey = "auth.token", "auth.rt"
			return e
		}())}, files: files{local: {}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.TokenKey.Value, "auth.token", tg.TokenKey.From, "recorded by the login that wrote this Config.toml", tg.RefreshTokenKey.Value, "auth.rt")
			}},
		{name: "keys 2: not those recorded for another file", in: Input{Use: ExistingLogin, Flags: Flags{Config: flag(local)}, Store: storeOf(func() *store.Entry {
			e := entry("a", "", "", other)
			e.Config.TokenKey = "auth.token"
			return e
		}())}, files: files{local: {}},
			check: func(t *testing.T, tg *Target) { want(t, tg.TokenKey.Value, "token", tg.TokenKey.From, "default") }},
		{name: "keys 3: defaults", in: Input{Flags: Flags{ClientID: flag("a")}},
			check: func(t *testing.T, tg *Target) {
				want(t, tg.TokenKey.Value, "token", tg.RefreshTokenKey.Value, "", tg.RefreshTokenKey.From, "default: the refresh token stays in the store")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Dir = dir
			in.Getenv = func(k string) string { return tt.env[k] }
			in.ReadConfig = tt.files.read
			tg, err := Resolve(in)
			if tt.err != nil || tt.errHas != "" {
				if err == nil {
					t.Fatalf("no error; target %+v", tg)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q lacks %q", err, tt.errHas)
				}
				if tt.err != nil && !errorsAs(err, tt.err) {
					t.Errorf("error %T, want %T", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tg)
		})
	}
}

// TestCheckKeys: a token key never overwrites the client id or secret.
func TestCheckKeys(t *testing.T) {
	for _, c := range []struct{ token, refresh, says string }{
		{"clientId", "", "client id"},
		{"token", "clientSecret", "client secret"},
		{"t", "t", "refresh token as well"},
		{"token", "", ""},
	} {
		tg := &Target{TokenKey: Setting{Value: c.token}, RefreshTokenKey: Setting{Value: c.refresh}, ClientIDKey: "clientId", ClientSecretKey: "clientSecret"}
		err := tg.CheckKeys()
		if (c.says == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%q/%q: %v, want %q", c.token, c.refresh, err, c.says)
		}
	}
}

func errorsAs(err error, target any) bool {
	switch target.(type) {
	case *NoClientError:
		var e *NoClientError
		return errors.As(err, &e)
	case *AccountError:
		var e *AccountError
		return errors.As(err, &e)
	case *LocalCredentialError:
		var e *LocalCredentialError
		return errors.As(err, &e)
	}
	return false
}

// want compares pairs: got, want, got, want…
func want(t *testing.T, pairs ...string) {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] != pairs[i+1] {
			t.Errorf("got %q, want %q", pairs[i], pairs[i+1])
		}
	}
}
