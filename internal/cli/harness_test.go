package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/twauth/twauth/internal/testport"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// Known secrets: every test that prints anything checks they never leak.
const (
	publicID     = "public-client-id"
	confID       = "confidential-client-id"
	confSecret   = "CONF-SECRET-s3cr3t"
	otherID      = "other-app-id"
	otherSecret  = "OTHER-SECRET-0ther"
	timeoutShort = 2 * time.Second
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// world is one end-to-end setting: a fake X, a working directory with a
// Config.toml path and a store, a clock shared by X and twauth, and an
// HTTP "browser".
type world struct {
	t        *testing.T
	srv      *xtest.Server
	clock    *xtest.Clock
	dir      string
	cfg      string
	store    string
	redirect string
	port     int
	browser  *xtest.HTTPBrowser
	// open replaces the browser when set.
	open func(ctx context.Context, u string) error
	// realOpener leaves the choice of browser to twauth (--browser,
	// $BROWSER, the system's).
	realOpener bool
	// onAuthURL plays a user on another machine: it gets the printed
	// authorization URL.
	onAuthURL func(authURL string)
	env       map[string]string
	// beforeToken runs before each request to the token endpoint.
	beforeToken func(r *http.Request)
	// plainPKCE: the verifier is in the authorization URL by design.
	plainPKCE bool
	// noConfigFlag: run without --config, as a user who names no file.
	noConfigFlag bool
	sleeps       []time.Duration
	mu           sync.Mutex
}

func newWorld(t *testing.T, opts ...func(*xtest.Options)) *world {
	t.Helper()
	// A desktop session: the browser can open.
	w := &world{t: t, clock: xtest.NewClock(t0), dir: t.TempDir(), browser: &xtest.HTTPBrowser{}, env: map[string]string{"DISPLAY": ":0"}}
	w.port = freePort(t)
	w.redirect = fmt.Sprintf("http://127.0.0.1:%d/callback", w.port)
	o := xtest.Options{
		Now: w.clock.Now,
		Clients: []xtest.Client{
			{ID: publicID, RedirectURIs: []string{w.redirect}},
			{ID: confID, Secret: confSecret, RedirectURIs: []string{w.redirect}},
			{ID: otherID, Secret: otherSecret, RedirectURIs: []string{w.redirect}},
		},
	}
	for _, f := range opts {
		f(&o)
	}
	w.srv = xtest.Start(t, o)
	w.cfg = filepath.Join(w.dir, "Config.toml")
	w.store = filepath.Join(w.dir, "state", "tokens.json")
	return w
}

func freePort(t *testing.T) int {
	t.Helper()
	return testport.Free(t)
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs twauth in-process with the world's endpoints, store, Config.toml
// and redirect URI unless args set them.
func (w *world) run(args ...string) result {
	return w.runCtx(context.Background(), "", args...)
}

func (w *world) runWithRealOpener(args ...string) result {
	w.realOpener = true
	defer func() { w.realOpener = false }()
	return w.run(args...)
}

func (w *world) baseArgs() []string {
	args := []string{
		"--auth-url", w.srv.AuthURL(), "--token-url", w.srv.TokenURL(),
		"--revoke-url", w.srv.RevokeURL(), "--api-url", w.srv.APIURL(),
		"--store", w.store,
	}
	if !w.noConfigFlag {
		args = append(args, "--config", w.cfg)
	}
	return args
}

func (w *world) runCtx(ctx context.Context, stdin string, args ...string) result {
	w.t.Helper()
	return w.runIO(ctx, strings.NewReader(stdin), args...)
}

// runIO runs twauth with stdin; when onAuthURL is set, it is called (on
// its own goroutine) with the authorization URL as soon as twauth prints it.
func (w *world) runIO(ctx context.Context, stdin io.Reader, args ...string) result {
	w.t.Helper()
	full := append(append([]string{}, args...), w.baseArgs()...)
	if len(args) > 0 && (args[0] == "login" || args[0] == "url") && !contains(args, "--redirect-uri") {
		full = append(full, "--redirect-uri", w.redirect)
	}
	var stdout bytes.Buffer
	var once sync.Once
	stderr := &watchWriter{line: func(l string) {
		l = strings.TrimSpace(l)
		if w.onAuthURL != nil && strings.HasPrefix(l, w.srv.AuthURL()+"?") {
			once.Do(func() { go w.onAuthURL(l) })
		}
	}}
	open := w.open
	if open == nil && !w.realOpener {
		open = func(ctx context.Context, u string) error { return w.browser.OpenContext(ctx, u) }
	}
	deps := cli.Deps{
		Stdin:  stdin,
		Stdout: &stdout,
		Stderr: stderr,
		Getenv: func(k string) string { return w.env[k] },
		Now:    w.clock.Now,
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == xtest.TokenPath && w.beforeToken != nil {
				w.beforeToken(r)
			}
			return http.DefaultTransport.RoundTrip(r)
		}),
		Open: open,
		GOOS: "linux",
		Retry: oauth.RetryPolicy{Sleep: func(_ context.Context, d time.Duration) error {
			w.mu.Lock()
			w.sleeps = append(w.sleeps, d)
			w.mu.Unlock()
			return nil
		}},
	}
	code := cli.Run(ctx, deps, full)
	w.browser.Wait()
	res := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	w.checkNoSecrets(res)
	return res
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// checkNoSecrets fails when a client secret, a refresh token, a code or a
// verifier reaches any output, or an access token reaches stderr.
func (w *world) checkNoSecrets(r result) {
	w.t.Helper()
	for _, s := range []string{confSecret, otherSecret} {
		if strings.Contains(r.stdout+r.stderr, s) {
			w.t.Errorf("client secret %q in the output:\n%s\n%s", s, r.stdout, r.stderr)
		}
	}
	for _, tok := range w.srv.Secrets() {
		if w.plainPKCE && strings.Contains(r.stderr, "code_challenge="+tok) {
			continue
		}
		if strings.Contains(r.stderr, tok) {
			w.t.Errorf("a token reached stderr:\n%s", r.stderr)
		}
	}
}

func (w *world) writeConfig(content string) {
	w.t.Helper()
	if err := os.WriteFile(w.cfg, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) readConfig() string {
	w.t.Helper()
	b, err := os.ReadFile(w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

func (w *world) readStore() *store.File {
	w.t.Helper()
	s := &store.Store{Path: w.store}
	f, err := s.Load()
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

func (w *world) entry(id string) *store.Entry {
	w.t.Helper()
	return w.readStore().Entry(id)
}

// tokenRequests returns the requests to the token endpoint.
func (w *world) tokenRequests() []xtest.Request {
	var out []xtest.Request
	for _, r := range w.srv.Requests() {
		if r.Path == xtest.TokenPath {
			out = append(out, r)
		}
	}
	return out
}

// seed stores a token set for id as a login would have, expiring at exp.
func (w *world) seed(id, scope string, exp time.Time, confidential bool) (access, refresh string) {
	w.t.Helper()
	access, refresh = w.srv.IssueTokens(id, scope)
	s := &store.Store{Path: w.store}
	err := s.Update(context.Background(), func(f *store.File) error {
		f.Clients[id] = &store.Entry{
			ClientID: id, AccessToken: access, RefreshToken: refresh, TokenType: "bearer",
			Expiry: exp, Scope: scope, TokenURL: w.srv.TokenURL(), Confidential: confidential,
			Config: &store.ConfigKeys{Path: w.cfg, TokenKey: "token"}, UpdatedAt: t0,
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return access, refresh
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func mustExist(t *testing.T, path string, want bool) {
	t.Helper()
	_, err := os.Stat(path)
	if want && err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !want && err == nil {
		t.Fatalf("%s exists, want it absent", path)
	}
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	return m
}

// stateOf returns the state parameter of an authorization URL.
func stateOf(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

func httpGet(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// watchWriter collects what is written and hands each complete line to a
// callback.
type watchWriter struct {
	mu   sync.Mutex
	buf  strings.Builder
	seen int
	line func(string)
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	s := w.buf.String()
	for {
		i := strings.IndexByte(s[w.seen:], '\n')
		if i < 0 {
			break
		}
		w.line(s[w.seen : w.seen+i])
		w.seen += i + 1
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
