package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test credentials: the handle and the secret hold a raw '+' and '%', which
// ballerina/oauth2 sends as they are.
const (
	testClientID = "twauth-local-id-test"
	testSecret   = "cs+se%cret%41"
	testHandle   = "rt+han%dle%2B"
	grantedScope = "tweet.read users.read offline.access"
)

var testCreds = NewCredentials(testClientID, testSecret, testHandle)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeSource stands for twauth's store and X: it holds one token, and
// "refreshes" it (a new access token living 2 h) when it expires within
// minValid, as the store's locked rotation does.
type fakeSource struct {
	now   func() time.Time
	gate  chan struct{} // when set, a refresh waits for it to close (or ctx)
	fail  error         // when set, every call returns it
	hang  bool          // when set, every call waits for ctx
	calls atomic.Int64

	mu        sync.Mutex
	tok       Token
	issued    int
	refreshes int
	ctxErrs   []error // ctx.Err() of every call, once it returned
}

// newSource returns a source seeded with a token valid for 2 h from now.
func newSource(now func() time.Time) *fakeSource {
	s := &fakeSource{now: now}
	s.issue()
	return s
}

func (s *fakeSource) issue() {
	s.issued++
	s.tok = Token{
		AccessToken: fmt.Sprintf("x-access-token-%d-SECRET", s.issued),
		Expiry:      s.now().Add(2 * time.Hour),
		Scope:       grantedScope,
	}
}

func (s *fakeSource) Token(ctx context.Context, minValid time.Duration) (tok Token, err error) {
	s.calls.Add(1)
	defer func() {
		s.mu.Lock()
		s.ctxErrs = append(s.ctxErrs, ctx.Err())
		s.mu.Unlock()
	}()
	if s.fail != nil {
		return Token{}, s.fail
	}
	if s.hang {
		<-ctx.Done()
		return Token{}, fmt.Errorf("X did not answer: %w", ctx.Err())
	}
	s.mu.Lock()
	tok = s.tok
	s.mu.Unlock()
	if tok.Expiry.Sub(s.now()) > minValid {
		return tok, nil
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return Token{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	s.issue()
	return s.tok, nil
}

func (s *fakeSource) current() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

func (s *fakeSource) refreshCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// logBuffer collects log output from concurrent requests.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// checkNoSecrets fails if the log holds any secret, as sent or encoded.
func checkNoSecrets(t *testing.T, log string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), strconv.Quote(s)} {
			if strings.Contains(log, form) {
				t.Errorf("the log holds a secret (%.12s…):\n%s", form, log)
			}
		}
	}
}

// start serves h with Run on a loopback port and returns its address; the
// server stops when the test ends.
func start(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ln.Addr().String()
}

// ballerina is the refresh-token grant configuration of ballerina/oauth2
// (OAuth2RefreshTokenGrantConfig), and request builds what its
// client_oauth2_provider.bal sends for it (docs/design.md): the body by
// string concatenation, credentials as Basic or, with postBody
// (POST_BODY_BEARER), appended to the body. The header lines are written
// in lower case, as Ballerina's HTTP client (Netty) writes them.
type ballerina struct {
	clientID, clientSecret, refreshToken string
	scopes                               []string
	optionalParams                       [][2]string // in order
	postBody                             bool
}

func (c ballerina) request(host string) []byte {
	payload := "grant_type=refresh_token&refresh_token=" + c.refreshToken
	scope := ""
	for _, s := range c.scopes {
		scope += " " + strings.TrimSpace(s)
	}
	if scope != "" {
		payload += "&scope=" + strings.TrimSpace(scope)
	}
	for _, kv := range c.optionalParams {
		payload += "&" + strings.TrimSpace(kv[0]) + "=" + strings.TrimSpace(kv[1])
	}
	auth := ""
	if c.postBody {
		payload += "&client_id=" + c.clientID + "&client_secret=" + c.clientSecret
	} else {
		auth = "authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(c.clientID+":"+c.clientSecret)) + "\r\n"
	}
	return []byte("POST /oauth2/token HTTP/1.1\r\n" +
		"host: " + host + "\r\n" +
		"content-type: application/x-www-form-urlencoded\r\n" +
		auth +
		"user-agent: ballerina\r\n" +
		"content-length: " + strconv.Itoa(len(payload)) + "\r\n" +
		"\r\n" + payload)
}

// rawExchange writes req to addr as it is and reads one answer.
func rawExchange(t *testing.T, addr string, req []byte) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// tokenJSON is the exact answer for tok with expiresIn.
func tokenJSON(tok Token, expiresIn int) string {
	return `{"access_token":"` + tok.AccessToken + `","token_type":"bearer","expires_in":` + strconv.Itoa(expiresIn) +
		`,"scope":"` + tok.Scope + `"}` + "\n"
}
