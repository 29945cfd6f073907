package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/etcdstore"
	"github.com/twauth/twauth/internal/keyringstore"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
)

// setting is a global flag's value with how it was given.
func (g *GlobalOptions) setting(name, value string) resolve.Setting {
	from := g.from(name)
	if from == "" {
		return resolve.Setting{}
	}
	return resolve.Setting{Value: value, From: from}
}

// flags are the explicit settings for the resolution.
func (g *GlobalOptions) resolveFlags() resolve.Flags {
	return resolve.Flags{
		Config:          g.setting("config", g.Config),
		ClientID:        g.setting("client-id", g.ClientID),
		ClientSecret:    g.setting("client-secret", g.ClientSecret),
		TokenKey:        g.setting("token-key", g.TokenKey),
		RefreshTokenKey: g.setting("refresh-token-key", g.RefreshTokenKey),
		ClientIDKey:     g.setting("client-id-key", g.ClientIDKey),
		ClientSecretKey: g.setting("client-secret-key", g.ClientSecretKey),
		AuthURL:         g.setting("auth-url", g.AuthURL),
		TokenURL:        g.setting("token-url", g.TokenURL),
		RevokeURL:       g.setting("revoke-url", g.RevokeURL),
		APIURL:          g.setting("api-url", g.APIURL),
		Account:         g.setting("account", g.Account),
	}
}

// openStore is the token store in force (docs/design.md, "Where tokens
// live"): --store PATH, the file; --store keyring[:SERVICE], the OS
// keyring with its metadata in the default file; none, the default file —
// or the keyring when the file says its secrets are there, or when a
// login finds a keyring available and unlocked (then the app's chain moves
// there). Where there is no Secret Service (CI, SSH), the file, silently.
func (f *Factory) openStore() (*store.Store, error) {
	return f.openStoreFor(false)
}

// openStoreFor is openStore; login says that a new login may move the
// tokens into a keyring found available.
func (f *Factory) openStoreFor(login bool) (*store.Store, error) {
	arg := f.Global.StoreArg
	if strings.HasPrefix(arg, etcdstore.Scheme) {
		return f.openEtcd(arg)
	}
	service, keyring := "", false
	if arg == "keyring" || strings.HasPrefix(arg, "keyring:") {
		// keyring, keyring: and keyring:SERVICE (default: twauth).
		service, keyring, arg = strings.TrimPrefix(strings.TrimPrefix(arg, "keyring"), ":"), true, ""
	}
	path := arg
	if path == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &usageError{"store path " + path + ": " + err.Error()}
	}
	if err := store.CheckPermissions(abs); err != nil {
		return nil, err
	}
	f.warnLoose(abs, "the token store")
	file := &store.Store{Path: abs, LockTimeout: f.Global.LockTimeout}
	inKeyring := func(svc string) *store.Store {
		st := *file
		b := keyringstore.New(svc, file)
		if login {
			// A damaged item must not stop the login that replaces it.
			b = b.Tolerant()
		}
		st.Backend = b
		return &st
	}
	switch {
	case keyring && login:
		// Checked before anything is sent: a login whose tokens could not
		// be saved would spend the code for nothing.
		if err := keyringstore.Available(); err != nil {
			return nil, err
		}
		return inKeyring(service), nil
	case keyring:
		return inKeyring(service), nil
	case arg != "":
		return file, nil
	}
	snap, err := file.Load()
	if err == nil && len(keyringstore.KeptInKeyring(snap)) > 0 {
		return inKeyring(""), nil
	}
	if !login || !f.keyringReachable() {
		// The resolution reuses what was just read.
		f.loaded = map[*store.Store]*store.File{file: snap}
		return file, nil
	}
	if err := keyringstore.Available(); err != nil {
		var u *keyringstore.UnavailableError
		if !errors.As(err, &u) {
			f.say("twauth: the OS keyring cannot be used (%v): tokens stay in %s", err, abs)
		}
		return file, nil
	}
	return inKeyring(""), nil
}

// openEtcd is the store in etcd at arg. Pending logins stay in the
// default file's directory: they belong to one machine's browser.
func (f *Factory) openEtcd(arg string) (*store.Store, error) {
	// The connection outlives the command's context: an interrupt after X
	// answered must still let the rotated token be saved.
	b, err := etcdstore.New(context.Background(), arg, etcdstore.Options{Getenv: f.Getenv})
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, func() { b.Close() })
	for _, w := range b.Warnings() {
		f.warnf("%s", w)
	}
	path, err := store.DefaultPath()
	if err != nil {
		return nil, err
	}
	return &store.Store{Path: path, Backend: b, LockTimeout: f.Global.LockTimeout}, nil
}

// keyringReachable reports whether a keyring may be there to probe: on
// Linux and the BSDs only with a D-Bus session (a desktop), so that CI and
// SSH sessions never wait on one.
func (f *Factory) keyringReachable() bool {
	switch f.goos() {
	case "darwin", "windows":
		return true
	}
	return f.Getenv("DBUS_SESSION_BUS_ADDRESS") != ""
}

func (f *Factory) goos() string {
	if f.GOOS != "" {
		return f.GOOS
	}
	return runtime.GOOS
}

func (f *Factory) warnLoose(path, what string) {
	if mode, loose := store.LoosePermissions(path); loose {
		f.warnf("%s %s is readable by other users (mode %04o): twauth sets it to 0600 on its next write (or: chmod 600 %s)", what, path, mode, path)
	}
}

func (f *Factory) warnf(format string, args ...any) {
	f.say("twauth: warning: "+format, args...)
}

func (f *Factory) say(format string, args ...any) {
	_, _ = f.Stderr.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

func (f *Factory) dir() (string, error) {
	if f.Dir != "" {
		return f.Dir, nil
	}
	return os.Getwd()
}

// configCache reads each Config.toml once per command: the resolution and
// the flow share the parsed document.
type configCache struct {
	docs map[string]*balconfig.Doc
	// peek reads only what the resolution asks for, for the token fast
	// path; a full read replaces it when the command needs the document.
	peek bool
}

func (c *configCache) read(path string) (resolve.Config, bool, error) {
	if c.peek {
		return peekConfig{path: path}, fileExists(path), nil
	}
	if d, ok := c.docs[path]; ok {
		return d, d != nil, nil
	}
	d, exists, err := balconfig.Load(path)
	if err != nil {
		return nil, exists, err
	}
	if !exists {
		d = nil
	}
	if c.docs == nil {
		c.docs = map[string]*balconfig.Doc{}
	}
	c.docs[path] = d
	if !exists {
		return nil, false, nil
	}
	return d, true, nil
}

// peekConfig reads single keys of a Config.toml without parsing the rest.
type peekConfig struct{ path string }

func (p peekConfig) Get(key string) (string, bool, error) {
	v, found, _, err := balconfig.Peek(p.path, key)
	return v, found, err
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// target resolves what the command acts on. st may be nil: it is opened.
type targetOptions struct {
	use    resolve.Use
	seeded bool
	peek   bool
	// clientID, when set, is the client id in force (a pending login's).
	clientID resolve.Setting
}

func (f *Factory) resolve(st *store.Store, o targetOptions) (*resolve.Target, *configCache, *store.File, error) {
	dir, err := f.dir()
	if err != nil {
		return nil, nil, nil, err
	}
	snap := f.loaded[st]
	if snap == nil {
		if snap, err = st.Load(); err != nil {
			return nil, nil, nil, err
		}
	}
	if !o.peek {
		// Expired pending logins go, verifiers included, the next time
		// twauth runs (not on the token fast path, which reads nothing
		// more than it must).
		if err := st.PrunePending(context.Background(), f.now()); err != nil {
			return nil, nil, nil, err
		}
	}
	flags := f.Global.resolveFlags()
	if o.clientID.Set() {
		flags.ClientID = o.clientID
	}
	cache := &configCache{peek: o.peek}
	t, err := resolve.Resolve(resolve.Input{
		Use:        o.use,
		Flags:      flags,
		Getenv:     f.Getenv,
		Dir:        dir,
		Store:      snap,
		StorePath:  st.Where(),
		ReadConfig: cache.read,
		Seeded:     o.seeded,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkEndpoints(t); err != nil {
		return nil, nil, nil, err
	}
	if t.ConfigExists && !o.peek {
		f.warnLoose(t.ConfigPath, "Config.toml")
	}
	return t, cache, snap, nil
}

// runner builds the flow runner of a target, parsing its Config.toml if
// the resolution only peeked at it.
func (f *Factory) runner(t *resolve.Target, st *store.Store, cache *configCache) (*app.Runner, error) {
	cache.peek = false
	var doc *balconfig.Doc
	if t.ConfigExists {
		cfg, _, err := cache.read(t.ConfigPath)
		if err != nil {
			return nil, err
		}
		doc, _ = cfg.(*balconfig.Doc)
	}
	g := f.Global
	return app.New(app.Deps{
		Stdin:       f.Stdin,
		Stderr:      f.Stderr,
		Getenv:      f.Getenv,
		Now:         f.Now,
		Transport:   f.Transport,
		Open:        f.Open,
		Interactive: f.Interactive,
		GOOS:        f.GOOS,
		Retry:       f.Retry,
		Browser:     f.browser,
		Verbose:     g.Verbose,
		HTTPTimeout: g.HTTPTimeout,
		LockTimeout: g.LockTimeout,
	}, t, st, doc), nil
}
