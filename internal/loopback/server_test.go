package loopback

import (
	"context"
	"errors"
	"fmt"
	"github.com/twauth/twauth/internal/testport"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const testState = "s7Yx0Jc0oN3b0yZbq8Qb3I1m8P3cVb4Z3HkqQeWm1aQ"

func freePort(t *testing.T) int {
	t.Helper()
	return testport.Free(t)
}

type rejects struct {
	mu      sync.Mutex
	reasons []string
}

func (r *rejects) add(s string) { r.mu.Lock(); r.reasons = append(r.reasons, s); r.mu.Unlock() }
func (r *rejects) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

func start(t *testing.T, uris ...string) (*Server, *rejects) {
	t.Helper()
	rj := &rejects{}
	s, err := Listen(Options{RedirectURIs: uris, State: testState, OnReject: rj.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, rj
}

func get(t *testing.T, method, u, host string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestParseRedirect(t *testing.T) {
	ok := map[string]Redirect{
		"http://127.0.0.1:8765/callback":  {Host: "127.0.0.1", Port: 8765, Path: "/callback"},
		"http://localhost:9000/cb/":       {Host: "localhost", Port: 9000, Path: "/cb/"},
		"http://[::1]:8765/callback":      {Host: "::1", Port: 8765, Path: "/callback"},
		"http://127.0.0.2:1/":             {Host: "127.0.0.2", Port: 1, Path: "/"},
		"http://LOCALHOST:8765":           {Host: "localhost", Port: 8765, Path: "/"},
		"http://127.0.0.1/callback":       {Host: "127.0.0.1", Port: 80, Path: "/callback"},
		"http://127.0.0.1:8765/a%20b?x=1": {Host: "127.0.0.1", Port: 8765, Path: "/a%20b"},
	}
	for uri, want := range ok {
		got, err := ParseRedirect(uri)
		want.URI = uri
		if err != nil || got != want {
			t.Errorf("ParseRedirect(%q) = %+v, %v; want %+v", uri, got, err, want)
		}
	}
	bad := []struct {
		uri     string
		problem RedirectProblem
		reason  string
	}{
		{"https://127.0.0.1:8765/callback", RedirectHTTPS, "it is https, and a local listener has no certificate"},
		{"http://example.com:8765/callback", RedirectNotLoopback, "example.com is not a loopback address; the listener binds only 127.0.0.1, ::1 or localhost"},
		{"http://10.0.0.1:8765/callback", RedirectNotLoopback, "10.0.0.1 is not a loopback address; the listener binds only 127.0.0.1, ::1 or localhost"},
		{"http://127.0.0.1:0/callback", RedirectBadPort, "its port is not between 1 and 65535"},
		{"http://127.0.0.1:99999/callback", RedirectBadPort, "its port is not between 1 and 65535"},
		{"http://127.0.0.1:/callback", RedirectEmptyPort, "its port is empty"},
		{"http://127.0.0.1:8765/cb#frag", RedirectFragment, "it has a fragment, which browsers do not send"},
		{"myapp://callback", RedirectNotHTTP, "it is not an http URL"},
		{"http://user@127.0.0.1:8765/", RedirectUserInfo, "it carries user information"},
		{"http:///callback", RedirectNoHost, "it has no host"},
		{"::", RedirectNotURL, "it is not a URL"},
	}
	for _, c := range bad {
		_, err := ParseRedirect(c.uri)
		var re *RedirectURIError
		want := fmt.Sprintf("redirect URI %q cannot be served by twauth's listener: %s", c.uri, c.reason)
		if !errors.As(err, &re) || re.Problem != c.problem || re.Reason != c.reason || err.Error() != want {
			t.Errorf("ParseRedirect(%q) = %v; want a RedirectURIError %d saying\n %s", c.uri, err, c.problem, want)
		}
		noFlags(t, err)
	}
}

// noFlags fails t when err names a command-line flag or a command: the
// command line adds those.
func noFlags(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); strings.Contains(msg, "--") || strings.Contains(msg, "twauth login") {
		t.Errorf("error names a flag or a command: %q", msg)
	}
}

func TestGoodCallback(t *testing.T) {
	port := freePort(t)
	s, _ := start(t, fmt.Sprintf("http://127.0.0.1:%d/callback", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	done := make(chan struct{})
	var res Result
	var werr error
	go func() { res, werr = s.Wait(context.Background()); close(done) }()

	status, h, body := get(t, "GET", base+"/callback?state="+testState+"&code=THE-CODE-123", "")
	if status != 200 || !strings.Contains(body, "You are signed in") {
		t.Fatalf("callback = %d %q", status, body)
	}
	if strings.Contains(body, "THE-CODE-123") || strings.Contains(body, testState) {
		t.Fatal("the success page echoes the code or the state")
	}
	for k, v := range map[string]string{
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
	} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	for _, asset := range []string{"<script", "<link", "src=", "http://", "https://"} {
		if strings.Contains(body, asset) {
			t.Errorf("the success page has an external asset or script: %q", asset)
		}
	}
	<-done
	if werr != nil || res.Code != "THE-CODE-123" {
		t.Fatalf("Wait = %+v, %v", res, werr)
	}
	// Gone, port released.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts connections after the good callback")
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	ln.Close()
}

func TestBadCallbacksKeepWaiting(t *testing.T) {
	port := freePort(t)
	s, rj := start(t, fmt.Sprintf("http://127.0.0.1:%d/callback", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	hostport := fmt.Sprintf("127.0.0.1:%d", port)
	cases := []struct {
		name, method, path, host string
		status                   int
		reject                   string
	}{
		{"wrong path", "GET", "/other?state=" + testState + "&code=c", "", 404, ""},
		{"favicon", "GET", "/favicon.ico", "", 404, ""},
		{"trailing slash differs", "GET", "/callback/?state=" + testState + "&code=c", "", 404, ""},
		{"post", "POST", "/callback?state=" + testState + "&code=c", "", 405, ""},
		{"put", "PUT", "/callback", "", 405, ""},
		{"no state", "GET", "/callback?code=c", "", 400, "no state"},
		{"no code", "GET", "/callback?state=" + testState, "", 400, "neither a code nor an error"},
		{"forged state", "GET", "/callback?state=forged&code=c", "", 400, "state does not match"},
		{"forged state with error", "GET", "/callback?state=forged&error=access_denied", "", 400, "state does not match"},
		{"repeated code", "GET", "/callback?state=" + testState + "&code=a&code=b", "", 400, "code is repeated"},
		{"repeated state", "GET", "/callback?state=" + testState + "&state=" + testState + "&code=a", "", 400, "state is repeated"},
		{"huge query", "GET", "/callback?state=" + testState + "&code=" + strings.Repeat("a", MaxQuery), "", 414, "longer than 8 KB"},
		{"malformed query", "GET", "/callback?state=%zz&code=c", "", 400, "malformed"},
		{"dns rebinding", "GET", "/callback?state=" + testState + "&code=c", "evil.example:" + fmt.Sprint(port), 400, "Host"},
		{"other port in host", "GET", "/callback?state=" + testState + "&code=c", "127.0.0.1:1", 400, "Host"},
		{"localhost host for 127.0.0.1", "GET", "/callback?state=" + testState + "&code=c", "localhost:" + fmt.Sprint(port), 400, "Host"},
	}
	for _, tc := range cases {
		before := len(rj.all())
		status, h, body := get(t, tc.method, base+tc.path, tc.host)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.status, body)
		}
		if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: security headers missing", tc.name)
		}
		if tc.status == 405 && h.Get("Allow") != "GET" {
			t.Errorf("%s: Allow = %q", tc.name, h.Get("Allow"))
		}
		got := rj.all()
		if tc.reject != "" && (len(got) != before+1 || !strings.Contains(got[len(got)-1], tc.reject)) {
			t.Errorf("%s: reject reasons %q, want one containing %q", tc.name, got[before:], tc.reject)
		}
	}
	_ = hostport

	// Still waiting: the real callback completes the login.
	done := make(chan Result, 1)
	go func() { r, _ := s.Wait(context.Background()); done <- r }()
	if status, _, _ := get(t, "GET", base+"/callback?state="+testState+"&code=real", ""); status != 200 {
		t.Fatalf("real callback: %d", status)
	}
	if r := <-done; r.Code != "real" {
		t.Fatalf("Wait = %+v", r)
	}
}

func TestOversizedHeadersRefused(t *testing.T) {
	port := freePort(t)
	start(t, fmt.Sprintf("http://127.0.0.1:%d/callback", port))
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/callback", port), nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestErrorCallback(t *testing.T) {
	port := freePort(t)
	s, _ := start(t, fmt.Sprintf("http://127.0.0.1:%d/cb", port))
	done := make(chan error, 1)
	go func() { _, err := s.Wait(context.Background()); done <- err }()
	status, _, body := get(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/cb?state=%s&code=c&error=access_denied&error_description=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E", port, testState), "")
	if status != 200 || !strings.Contains(body, "Authorization failed") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(body, "<script>") {
		t.Fatalf("error page %d: %s", status, body)
	}
	err := <-done
	var ae *AuthorizationError
	if !errors.As(err, &ae) || ae.Code != "access_denied" || err.Error() != "authorization was denied in the browser (access_denied): <script>alert(1)</script>" {
		t.Fatalf("Wait error = %v", err)
	}
}

func TestIssuerCheck(t *testing.T) {
	port := freePort(t)
	rj := &rejects{}
	s, err := Listen(Options{RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/cb", port)}, State: testState, Issuer: "https://op.example", OnReject: rj.add})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := fmt.Sprintf("http://127.0.0.1:%d/cb?state=%s&code=c", port, testState)
	if status, _, _ := get(t, "GET", base+"&iss=https%3A%2F%2Fevil.example", ""); status != 400 {
		t.Fatalf("wrong iss: %d", status)
	}
	if r := rj.all(); len(r) != 1 || !strings.Contains(r[0], "RFC 9207") {
		t.Fatalf("rejects = %q", r)
	}
	done := make(chan Result, 1)
	go func() { r, _ := s.Wait(context.Background()); done <- r }()
	if status, _, _ := get(t, "GET", base+"&iss=https%3A%2F%2Fop.example", ""); status != 200 {
		t.Fatalf("right iss: %d", status)
	}
	if r := <-done; r.Iss != "https://op.example" || r.Code != "c" {
		t.Fatalf("result %+v", r)
	}
}

func TestFirstFreeRedirectWins(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	free := freePort(t)
	s, _ := start(t, fmt.Sprintf("http://127.0.0.1:%d/callback", busyPort), fmt.Sprintf("http://127.0.0.1:%d/callback", free))
	if s.Port() != free || s.RedirectURI() != fmt.Sprintf("http://127.0.0.1:%d/callback", free) {
		t.Fatalf("serving %s", s.RedirectURI())
	}

	_, err = Listen(Options{RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/callback", busyPort)}, State: testState})
	var pe *PortsInUseError
	if !errors.As(err, &pe) || err.Error() != fmt.Sprintf("no redirect URI could be served: http://127.0.0.1:%d/callback: port in use", busyPort) {
		t.Fatalf("all busy: %v", err)
	}
	// An invalid URI anywhere in the list is an error, even if another one could be served.
	_, err = Listen(Options{RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/callback", free), "https://127.0.0.1:1/cb"}, State: testState})
	var re *RedirectURIError
	if !errors.As(err, &re) {
		t.Fatalf("invalid second URI: %v", err)
	}
}

func TestLocalhostBindsBothFamilies(t *testing.T) {
	port := freePort(t)
	s, _ := start(t, fmt.Sprintf("http://localhost:%d/callback", port))
	if len(s.listeners) < 1 || s.listeners[0].Addr().String() != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("listeners %v", s.listeners)
	}
	if status, _, _ := get(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/callback?state=x&code=c", port), fmt.Sprintf("localhost:%d", port)); status != 400 {
		t.Fatalf("status %d", status)
	}
	if ln6, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln6.Close()
		if len(s.listeners) != 2 {
			t.Fatalf("IPv6 loopback exists but localhost bound only %v", s.listeners)
		}
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	port := freePort(t)
	s, _ := start(t, fmt.Sprintf("http://127.0.0.1:%d/callback", port))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v", err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still open after the context ended")
	}
}

func TestSlowClientDoesNotBlock(t *testing.T) {
	port := freePort(t)
	s, _ := start(t, fmt.Sprintf("http://127.0.0.1:%d/callback", port))
	// A client that connects and never sends a request.
	stuck, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if s.srv.ReadHeaderTimeout == 0 || s.srv.ReadHeaderTimeout > 10*time.Second || s.srv.MaxHeaderBytes == 0 {
		t.Fatalf("ReadHeaderTimeout %v MaxHeaderBytes %d", s.srv.ReadHeaderTimeout, s.srv.MaxHeaderBytes)
	}
	done := make(chan Result, 1)
	go func() { r, _ := s.Wait(context.Background()); done <- r }()
	if status, _, _ := get(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/callback?state=%s&code=ok", port, testState), ""); status != 200 {
		t.Fatal(status)
	}
	select {
	case r := <-done:
		if r.Code != "ok" {
			t.Fatal(r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stuck connection held the login")
	}
	// Wait returned before the stuck connection ended; Close waits for
	// the shutdown, which cuts it.
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	stuck.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stuck.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the stuck connection is still open after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}
