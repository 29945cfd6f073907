package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/twauth/twauth/internal/testport"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/store"
)

const (
	// publicID is a native (public) client: no secret, PKCE, refresh
	// tokens (storage.NativeClient).
	publicID = "twauth-native"
	// confID is a web (confidential) client with HTTP Basic auth
	// (storage.WebClient). Its secret has characters that RFC 6749
	// section 2.3.1 form-encodes inside Basic.
	confID     = "twauth-web"
	confSecret = "w3b s3cret+/=:&%"
	// password is the password of the example users (storage.NewUserStore).
	password = "verysecure"
	// scopes are the OpenID Connect scopes a login asks zitadel for:
	// offline_access (not X's offline.access) brings a refresh token.
	scopes = "openid profile offline_access"
)

// opOptions configure the OP of one test.
type opOptions struct {
	// legacy serves the OP through exampleop's wrapServer mode: op.Server
	// (op.NewLegacyServer) instead of the op.Provider handler.
	legacy bool
	// sendIss appends iss=<issuer> to every redirect to twauth's
	// listener: an RFC 9207 server, which zitadel's example OP is not.
	sendIss bool
}

// opWorld is one interop setting: zitadel's example OP on 127.0.0.1 with
// a native and a web client registered for twauth's loopback redirect, a
// working directory with Config.toml and twauth's store, and a browser.
type opWorld struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   string
	username string
	disc     discovery
	port     int
	redirect string
	dir      string
	cfg      string
	store    string
	env      map[string]string
	browser  *formBrowser
	// twauthTransport carries twauth's requests; probe is the test's own
	// client for checks at the OP.
	twauthTransport *http.Transport
	probe           *http.Client

	mu   sync.Mutex
	reqs []opRequest
}

// opRequest is one request the OP served, as the test recorded it.
type opRequest struct {
	Method, Path  string
	Query         url.Values
	Form          url.Values // the form body of a POST
	Authorization string
	Status        int
	Location      string
	// Body is the answer to a POST (answers to other methods are not kept).
	Body string
}

// discovery is the part of the OP's /.well-known/openid-configuration the
// tests use.
type discovery struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	AuthorizationResponseIssParameterSupported *bool    `json:"authorization_response_iss_parameter_supported"`
}

func startOP(t *testing.T, o opOptions) *opWorld {
	t.Helper()
	w := &opWorld{t: t, dir: t.TempDir(), env: map[string]string{"DISPLAY": ":0"}}
	w.port = freePort(t)
	w.redirect = fmt.Sprintf("http://127.0.0.1:%d/callback", w.port)
	w.cfg = filepath.Join(w.dir, "Config.toml")
	w.store = filepath.Join(w.dir, "state", "tokens.json")

	srv := httptest.NewUnstartedServer(nil)
	w.issuer = "http://" + srv.Listener.Addr().String()
	w.username = "test-user@127.0.0.1"
	// Clients go in through NewStorageWithClients, not the package-level
	// storage.RegisterClients map, so that no two tests share state.
	clients := map[string]*storage.Client{
		publicID: storage.NativeClient(publicID, w.redirect),
		confID:   storage.WebClient(confID, confSecret, w.redirect),
	}
	st := storage.NewStorageWithClients(storage.NewUserStore(w.issuer), clients)
	// SetupServer adds op.WithAllowInsecure itself: the issuer is http.
	// A nil logger leaves slog's default alone (TestMain silences it).
	router := exampleop.SetupServer(w.issuer, st, nil, o.legacy)
	addIss := ""
	if o.sendIss {
		addIss = w.issuer
	}
	srv.Config.Handler = w.recorder(router, addIss)
	srv.Start()
	t.Cleanup(srv.Close)
	w.srv = srv

	w.twauthTransport = &http.Transport{Proxy: nil}
	probeTransport := &http.Transport{Proxy: nil}
	w.probe = &http.Client{Transport: probeTransport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	w.browser = newFormBrowser(w.username, password)
	t.Cleanup(func() {
		w.twauthTransport.CloseIdleConnections()
		probeTransport.CloseIdleConnections()
		w.browser.close()
	})

	resp, body := w.do(http.MethodGet, w.issuer+"/.well-known/openid-configuration", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: HTTP %d\n%s", resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), &w.disc); err != nil {
		t.Fatalf("discovery: %v\n%s", err, body)
	}
	for _, e := range []string{w.disc.AuthorizationEndpoint, w.disc.TokenEndpoint, w.disc.RevocationEndpoint, w.disc.UserinfoEndpoint} {
		if !strings.HasPrefix(e, w.issuer+"/") {
			t.Fatalf("discovery names an endpoint %q outside the issuer %s", e, w.issuer)
		}
	}
	return w
}

func freePort(t *testing.T) int {
	t.Helper()
	return testport.Free(t)
}

// recorder records every request the OP serves and, when addIss is set,
// adds iss to the OP's redirects to twauth's listener.
func (w *opWorld) recorder(next http.Handler, addIss string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec := opRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Authorization: r.Header.Get("Authorization")}
		if r.Method == http.MethodPost && r.Body != nil {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec.Form, _ = url.ParseQuery(string(body))
		}
		sw := &shimWriter{ResponseWriter: rw, addIss: addIss, redirect: w.redirect}
		if r.Method == http.MethodPost {
			sw.keep = &bytes.Buffer{}
		}
		next.ServeHTTP(sw, r)
		rec.Status = sw.status
		if rec.Status == 0 {
			rec.Status = http.StatusOK
		}
		rec.Location = sw.Header().Get("Location")
		if sw.keep != nil {
			rec.Body = sw.keep.String()
		}
		w.mu.Lock()
		w.reqs = append(w.reqs, rec)
		w.mu.Unlock()
	})
}

// shimWriter records the status and body of an answer and can add an iss
// parameter to a redirect to twauth.
type shimWriter struct {
	http.ResponseWriter
	addIss, redirect string
	status           int
	keep             *bytes.Buffer
}

func (s *shimWriter) WriteHeader(code int) {
	if s.status != 0 {
		return
	}
	s.status = code
	if loc := s.Header().Get("Location"); s.addIss != "" && strings.HasPrefix(loc, s.redirect+"?") {
		s.Header().Set("Location", loc+"&iss="+url.QueryEscape(s.addIss))
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *shimWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.keep != nil {
		s.keep.Write(b)
	}
	return s.ResponseWriter.Write(b)
}

// requests returns the recorded requests to the endpoint URL with method.
func (w *opWorld) requests(method, endpoint string) []opRequest {
	u, err := url.Parse(endpoint)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []opRequest
	for _, r := range w.reqs {
		if r.Method == method && r.Path == u.Path {
			out = append(out, r)
		}
	}
	return out
}

// all returns every recorded request.
func (w *opWorld) all() []opRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]opRequest(nil), w.reqs...)
}

// issued returns every token the OP's token endpoint has handed out.
func (w *opWorld) issued() []string {
	var out []string
	for _, r := range w.requests(http.MethodPost, w.disc.TokenEndpoint) {
		var m map[string]any
		if json.Unmarshal([]byte(r.Body), &m) != nil {
			continue
		}
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, _ := m[k].(string); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// do sends one request from the test itself (not twauth) to the OP.
func (w *opWorld) do(method, u string, form url.Values, bearer string) (*http.Response, string) {
	w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := w.probe.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp, string(b)
}

// userinfo asks the OP's userinfo endpoint about an access token: the
// status and the JSON answer.
func (w *opWorld) userinfo(access string) (int, map[string]any) {
	w.t.Helper()
	resp, body := w.do(http.MethodGet, w.disc.UserinfoEndpoint, nil, access)
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return resp.StatusCode, m
}

// refreshAtOP sends a refresh_token grant for the public client straight
// to the OP: the status and the JSON answer. Only for tokens that should
// be dead: a live one would rotate under twauth's feet.
func (w *opWorld) refreshAtOP(refresh string) (int, map[string]any) {
	w.t.Helper()
	resp, body := w.do(http.MethodPost, w.disc.TokenEndpoint,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {publicID}}, "")
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return resp.StatusCode, m
}

type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// twauth runs twauth in-process against the OP with the world's store,
// Config.toml and redirect URI. Commands get the public client unless
// args name another; a login asks for the OpenID scopes and gives up after
// 20 s unless args say otherwise.
func (w *opWorld) twauth(args ...string) result {
	w.t.Helper()
	full := append([]string{}, args...)
	if !has(args, "--client-id") {
		full = append(full, "--client-id", publicID)
	}
	full = append(full,
		"--auth-url", w.disc.AuthorizationEndpoint, "--token-url", w.disc.TokenEndpoint,
		"--revoke-url", w.disc.RevocationEndpoint,
		// twauth only calls /2/users/me with X's users.read and tweet.read
		// scopes; should it ever, the request stays on the OP.
		"--api-url", w.issuer,
		"--store", w.store, "--config", w.cfg)
	login := args[0] == "login"
	if login {
		full = append(full, "--redirect-uri", w.redirect)
		if !has(args, "--scopes") {
			full = append(full, "--scopes", scopes)
		}
		if !has(args, "--timeout") {
			full = append(full, "--timeout", "20s")
		}
	}
	w.browser.reset()
	var stdout, stderr bytes.Buffer
	deps := cli.Deps{
		Stdin:     strings.NewReader(""),
		Stdout:    &stdout,
		Stderr:    &stderr,
		Getenv:    func(k string) string { return w.env[k] },
		Transport: w.twauthTransport,
		Open:      w.browser.open,
		GOOS:      "linux",
		Retry:     oauth.RetryPolicy{Sleep: func(context.Context, time.Duration) error { return nil }},
	}
	start := time.Now()
	code := cli.Run(context.Background(), deps, full)
	res := result{code: code, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if login && !w.browser.wait(10*time.Second) {
		w.t.Errorf("the browser did not finish")
	}
	for _, tok := range w.issued() {
		if strings.Contains(res.stderr, tok) {
			w.t.Errorf("twauth %s: a token reached stderr:\n%s", args[0], res.stderr)
		}
	}
	return res
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	return m
}

func has(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// login runs a login of the public client that must succeed and returns
// its store entry.
func (w *opWorld) login(args ...string) *store.Entry {
	w.t.Helper()
	r := w.twauth(append([]string{"login"}, args...)...)
	if r.code != 0 {
		w.t.Fatalf("login: exit %d\n%s\nbrowser: %v %v", r.code, r.stderr, w.browser.visited, w.browser.err)
	}
	id := publicID
	for i, a := range args {
		if a == "--client-id" && i+1 < len(args) {
			id = args[i+1]
		}
	}
	e := w.entry(id)
	if e == nil {
		w.t.Fatalf("login: no store entry for %s", id)
	}
	return e
}

func (w *opWorld) entry(id string) *store.Entry {
	w.t.Helper()
	f, err := (&store.Store{Path: w.store}).Load()
	if err != nil {
		w.t.Fatal(err)
	}
	return f.Entry(id)
}

func (w *opWorld) writeConfig(s string) {
	w.t.Helper()
	if err := os.WriteFile(w.cfg, []byte(s), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *opWorld) readConfig() string {
	w.t.Helper()
	b, err := os.ReadFile(w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// callbacks returns the URLs of twauth's listener that the browser
// visited.
func (w *opWorld) callbacks() []*url.URL {
	w.browser.mu.Lock()
	defer w.browser.mu.Unlock()
	var out []*url.URL
	for _, v := range w.browser.visited {
		f := strings.Fields(v)
		if len(f) >= 2 && strings.HasPrefix(f[1], w.redirect+"?") {
			u, err := url.Parse(f[1])
			if err != nil {
				w.t.Fatal(err)
			}
			out = append(out, u)
		}
	}
	return out
}
