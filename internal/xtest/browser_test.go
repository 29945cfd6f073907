package xtest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// callback is a loopback "app" that records the callbacks it gets.
type callback struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []url.Values
	code int // status it answers; 0 = 200
}

func newCallback(t *testing.T) *callback {
	cb := &callback{}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		cb.got = append(cb.got, r.URL.Query())
		status := cb.code
		cb.mu.Unlock()
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html><body>You can close this tab. <button id=\"cancel\">Cancel</button></body></html>"))
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

func (cb *callback) uri() string { return cb.srv.URL + "/callback" }

func (cb *callback) last(t *testing.T) url.Values {
	t.Helper()
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.got) != 1 {
		t.Fatalf("%d callbacks, want 1", len(cb.got))
	}
	return cb.got[0]
}

// flow starts a Fake with a public client whose redirect is a callback.
func flow(t *testing.T, opts Options) (*Server, *callback, string) {
	t.Helper()
	cb := newCallback(t)
	opts.Clients = []Client{{ID: publicID, RedirectURIs: []string{cb.uri()}}}
	s := Start(t, opts)
	q := authParams(publicID)
	q.Set("redirect_uri", cb.uri())
	return s, cb, s.AuthURL() + "?" + q.Encode()
}

func TestBrowserApprovesWithoutConsent(t *testing.T) {
	s, cb, authURL := flow(t, Options{})
	b := &HTTPBrowser{}
	if err := b.Open(authURL); err != nil {
		t.Fatal(err)
	}
	q := cb.last(t)
	if q.Get("code") == "" || q.Get("state") != "state-123" {
		t.Fatalf("callback %v", q)
	}
	if !strings.HasPrefix(b.LastURL, cb.uri()+"?state=") || b.LastStatus != 200 || !strings.Contains(b.LastBody, "close this tab") {
		t.Fatalf("last page %q %d %q", b.LastURL, b.LastStatus, b.LastBody)
	}
	if len(b.Visited) != 2 || b.ConsentPages != 0 {
		t.Fatalf("Visited %v ConsentPages %d", b.Visited, b.ConsentPages)
	}
	f := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {cb.uri()},
		"code_verifier": {rfcVerifier}, "client_id": {publicID}}
	decodeToken(t, post(t, s.TokenURL(), f, "", ""))
}

func TestBrowserConsentApprove(t *testing.T) {
	_, cb, authURL := flow(t, Options{Consent: true})
	b := &HTTPBrowser{}
	if err := b.Open(authURL); err != nil {
		t.Fatal(err)
	}
	if q := cb.last(t); q.Get("code") == "" || q.Has("error") {
		t.Fatalf("callback %v", q)
	}
	if b.ConsentPages != 1 || len(b.Visited) != 3 || !strings.HasPrefix(b.Visited[1], "POST ") || b.LastStatus != 200 {
		t.Fatalf("Visited %v ConsentPages %d status %d", b.Visited, b.ConsentPages, b.LastStatus)
	}
}

func TestBrowserConsentCancel(t *testing.T) {
	_, cb, authURL := flow(t, Options{Consent: true})
	b := &HTTPBrowser{Cancel: true}
	if err := b.Open(authURL); err != nil {
		t.Fatal(err)
	}
	q := cb.last(t)
	if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Has("code") || q.Get("state") != "state-123" {
		t.Fatalf("callback %v", q)
	}
	// The final page had a "Cancel" button but is not a consent page twice:
	// the browser stopped there.
	if b.ConsentPages != 1 {
		t.Fatalf("ConsentPages %d", b.ConsentPages)
	}
}

func TestBrowserDeny(t *testing.T) {
	s, cb, authURL := flow(t, Options{})
	s.SetDeny(true)
	b := &HTTPBrowser{}
	if err := b.Open(authURL); err != nil {
		t.Fatal(err)
	}
	if q := cb.last(t); q.Get("error") != "access_denied" {
		t.Fatalf("callback %v", q)
	}
}

func TestBrowserStopsOnErrorPage(t *testing.T) {
	s, cb, _ := flow(t, Options{})
	q := authParams(publicID)
	q.Set("redirect_uri", cb.uri()+"/")
	b := &HTTPBrowser{}
	if err := b.Open(s.AuthURL() + "?" + q.Encode()); err != nil {
		t.Fatal(err)
	}
	if b.LastStatus != 400 || !strings.Contains(b.LastBody, "Something went wrong") {
		t.Fatalf("last page %d %q", b.LastStatus, b.LastBody)
	}
}

func TestBrowserRefusesNonLoopback(t *testing.T) {
	// Redirect URIs registered off loopback: the browser must not follow.
	for _, target := range []string{"https://example.com/cb", "http://10.0.0.1:8765/cb", "http://localhost.example.com/cb", "ftp://127.0.0.1/cb"} {
		t.Run(target, func(t *testing.T) {
			s := Start(t, Options{Clients: []Client{{ID: publicID, RedirectURIs: []string{target}}}})
			q := authParams(publicID)
			q.Set("redirect_uri", target)
			b := &HTTPBrowser{}
			err := b.Open(s.AuthURL() + "?" + q.Encode())
			if err == nil || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if strings.Contains(err.Error(), "code=") || strings.Contains(err.Error(), "state-123") {
				t.Fatalf("error leaks the query: %v", err)
			}
			if b.LastURL != "" || len(b.Visited) != 1 {
				t.Fatalf("LastURL %q Visited %v", b.LastURL, b.Visited)
			}
		})
	}
	b := &HTTPBrowser{}
	if err := b.Open("https://x.com/i/oauth2/authorize"); err == nil || len(b.Visited) != 0 {
		t.Fatalf("opened a non-loopback URL: %v", err)
	}
	for u, want := range map[string]bool{
		"http://127.0.0.1:1/x": true, "http://127.8.9.10/": true, "http://[::1]:80/": true, "http://LOCALHOST/": true,
		"https://localhost:443/": true, "http://[::ffff:127.0.0.1]/": true,
		"http://0.0.0.0/": false, "http://example.com/": false, "file:///etc/passwd": false, "::": false,
	} {
		if got := IsLoopbackURL(u); got != want {
			t.Errorf("IsLoopbackURL(%q) = %v", u, got)
		}
	}
}

func TestBrowserErrors(t *testing.T) {
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	defer loop.Close()
	b := &HTTPBrowser{MaxSteps: 5}
	if err := b.Open(loop.URL); err == nil || !strings.Contains(err.Error(), "no final page after 5") {
		t.Fatalf("redirect loop: %v", err)
	}

	// A refused connection names the page, not its query.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	err := b.Open(deadURL + "/callback?code=secret-code&state=s")
	if err == nil || strings.Contains(err.Error(), "secret-code") || !strings.Contains(err.Error(), deadURL+"/callback") {
		t.Fatalf("err = %v", err)
	}
}

func TestBrowserRepostsOn307(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.PostForm.Get("decision"))
		mu.Unlock()
		switch r.URL.Path {
		case "/consent":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`<form method='POST' action="/first?x=1&amp;y=2"><input name=id value=abc type=hidden>` +
				`<button name="decision" value="approve"><b>Authorize app</b></button></form>`))
		case "/first":
			if r.URL.Query().Get("y") != "2" || r.PostForm.Get("id") != "abc" {
				http.Error(w, "bad form", 400)
				return
			}
			http.Redirect(w, r, "/second", http.StatusTemporaryRedirect)
		case "/second":
			http.Redirect(w, r, "/done", http.StatusSeeOther)
		default:
			_, _ = w.Write([]byte("done"))
		}
	}))
	defer srv.Close()
	b := &HTTPBrowser{Client: srv.Client()}
	if err := b.Open(srv.URL + "/consent"); err != nil {
		t.Fatal(err)
	}
	want := "GET /consent |POST /first approve|POST /second approve|GET /done "
	if g := strings.Join(got, "|"); g != want || b.LastBody != "done" {
		t.Fatalf("requests %q, want %q; body %q", g, want, b.LastBody)
	}
}

func TestBrowserOpenOnAnotherGoroutine(t *testing.T) {
	_, cb, authURL := flow(t, Options{Consent: true})
	b := &HTTPBrowser{}
	go func() { _ = b.Open(authURL) }()
	waitFor(t, func() bool { cb.mu.Lock(); defer cb.mu.Unlock(); return len(cb.got) == 1 })
	b.Wait()
	if b.LastStatus != 200 {
		t.Fatalf("LastStatus %d", b.LastStatus)
	}
}
