package serve

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// retryError is an error that carries a retry-after, as an X 503 does.
type retryError struct{ d time.Duration }

func (e retryError) Error() string             { return "X could not refresh the token: 503" }
func (e retryError) RetryAfter() time.Duration { return e.d }

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// TestErrorAnswers checks every refusal on the wire: status, the exact
// RFC 6749 section 5.2 JSON, the headers that go with it, and that no
// refusal before the grant is checked reaches the source.
func TestErrorAnswers(t *testing.T) {
	const good = "grant_type=refresh_token&refresh_token=" + testHandle
	auth := basic(testClientID, testSecret)
	unauthorized := `{"error":"invalid_client","error_description":"client authentication failed: send the clientId and clientSecret that ` + "`twauth serve --configure`" + ` wrote"}` + "\n"
	for _, tc := range []struct {
		name          string
		method, path  string
		host          string // default: the server's address
		auth, body    string
		source        func(*fakeSource)
		status        int
		want          string
		header        map[string]string
		sourceReached bool
	}{
		{name: "no credentials", body: good, status: 401, want: unauthorized,
			header: map[string]string{"WWW-Authenticate": `Basic realm="twauth"`}},
		{name: "wrong secret", auth: basic(testClientID, testSecret+"x"), body: good, status: 401, want: unauthorized,
			header: map[string]string{"WWW-Authenticate": `Basic realm="twauth"`}},
		{name: "wrong client id", auth: basic("twauth-local-id-other", testSecret), body: good, status: 401, want: unauthorized},
		{name: "handle as secret", auth: basic(testClientID, testHandle), body: good, status: 401, want: unauthorized},
		{name: "malformed basic", auth: "Basic !!!", body: good, status: 401, want: unauthorized},
		{name: "wrong secret in body", body: good + "&client_id=" + testClientID + "&client_secret=nope", status: 401, want: unauthorized},
		{name: "client id alone in body", body: good + "&client_id=" + testClientID, status: 401, want: unauthorized},
		{name: "credentials twice", auth: auth, body: good + "&client_id=" + testClientID + "&client_secret=" + testSecret, status: 400,
			want: `{"error":"invalid_request","error_description":"send the client credentials in the Authorization header or in the body, not both"}` + "\n"},
		{name: "other grant", auth: auth, body: "grant_type=authorization_code&code=abc", status: 400,
			want: `{"error":"unsupported_grant_type","error_description":"only grant_type=refresh_token is supported"}` + "\n"},
		{name: "no grant type", auth: auth, body: "refresh_token=" + testHandle, status: 400,
			want: `{"error":"invalid_request","error_description":"grant_type is missing"}` + "\n"},
		{name: "wrong handle", auth: auth, body: "grant_type=refresh_token&refresh_token=rt+han%dle", status: 400,
			want: `{"error":"invalid_grant","error_description":"refresh_token is not the one twauth issued for this program: write it again with ` + "`twauth serve --configure`" + `"}` + "\n"},
		{name: "secret as handle", auth: auth, body: "grant_type=refresh_token&refresh_token=" + testSecret, status: 400,
			want: `{"error":"invalid_grant","error_description":"refresh_token is not the one twauth issued for this program: write it again with ` + "`twauth serve --configure`" + `"}` + "\n"},
		{name: "no handle", auth: auth, body: "grant_type=refresh_token", status: 400,
			want: `{"error":"invalid_request","error_description":"refresh_token is missing"}` + "\n"},
		{name: "repeated handle", auth: auth, body: good + "&refresh_token=" + testHandle, status: 400,
			want: `{"error":"invalid_request","error_description":"parameter refresh_token is repeated"}` + "\n"},
		{name: "GET token", method: "GET", auth: auth, status: 405, header: map[string]string{"Allow": "POST"},
			want: `{"error":"invalid_request","error_description":"use POST"}` + "\n"},
		{name: "POST healthz", path: "/healthz", auth: auth, body: good, status: 405, header: map[string]string{"Allow": "GET, HEAD"},
			want: `{"error":"invalid_request","error_description":"use GET"}` + "\n"},
		{name: "unknown path", path: "/token", auth: auth, body: good, status: 404,
			want: `{"error":"invalid_request","error_description":"not found: the token endpoint is POST /oauth2/token"}` + "\n"},
		{name: "body too large", auth: auth, body: good + "&pad=" + strings.Repeat("a", MaxBodyBytes), status: 413,
			want: `{"error":"invalid_request","error_description":"the request body is over 16 KiB"}` + "\n"},
		{name: "scope not granted", auth: auth, body: good + "&scope=tweet.read dm.write like.read", status: 400, sourceReached: true,
			want: `{"error":"invalid_scope","error_description":"the X login did not grant dm.write like.read: run ` + "`twauth login`" + ` with these scopes"}` + "\n"},
		{name: "chain gone", auth: auth, body: good, status: 400, sourceReached: true,
			source: func(s *fakeSource) { s.fail = fmt.Errorf("refresh: %w: X rejected the refresh token", ErrLoginNeeded) },
			want:   `{"error":"invalid_grant","error_description":"the X login is gone (X no longer accepts its refresh token): run ` + "`twauth login`" + `"}` + "\n"},
		{name: "X unreachable", auth: auth, body: good, status: 503, sourceReached: true,
			source: func(s *fakeSource) { s.fail = fmt.Errorf("refresh: dial tcp: connection refused") },
			header: map[string]string{"Retry-After": "10"},
			want:   `{"error":"temporarily_unavailable","error_description":"twauth could not get a fresh X token (its log says why): retry in 10 s"}` + "\n"},
		{name: "X answers 503 with Retry-After", auth: auth, body: good, status: 503, sourceReached: true,
			source: func(s *fakeSource) { s.fail = fmt.Errorf("refresh: %w", retryError{41500 * time.Millisecond}) },
			header: map[string]string{"Retry-After": "42"},
			want:   `{"error":"temporarily_unavailable","error_description":"twauth could not get a fresh X token (its log says why): retry in 42 s"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			src := newSource(clock.Now)
			if tc.source != nil {
				tc.source(src)
			}
			var logs logBuffer
			addr := start(t, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now, Log: logs.logger()}))
			method, path := cmp.Or(tc.method, "POST"), cmp.Or(tc.path, "/oauth2/token")
			req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = cmp.Or(tc.host, addr)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(b) != tc.want {
				t.Errorf("got %d %s\nwant %d %s", resp.StatusCode, b, tc.status, tc.want)
			}
			for k, v := range tc.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json;charset=UTF-8" {
				t.Errorf("Content-Type %q", got)
			}
			if reached := src.calls.Load() > 0; reached != tc.sourceReached {
				t.Errorf("source reached: %v, want %v", reached, tc.sourceReached)
			}
			// The log line says the same as the answer.
			var line struct {
				Status  int
				Outcome string
			}
			if err := json.Unmarshal([]byte(logs.String()), &line); err != nil || line.Status != tc.status || !strings.Contains(tc.want, `"error":"`+line.Outcome+`"`) {
				t.Errorf("log line %q does not match the answer (%v)", logs.String(), err)
			}
			checkNoSecrets(t, logs.String(), testSecret, testHandle, "x-access-token")
		})
	}
}

// TestHostMustBeLoopback refuses any Host header but 127.0.0.1, [::1] or
// localhost with the server's port, before anything else is looked at:
// a page in the user's browser cannot reach the endpoint by rebinding a
// DNS name to 127.0.0.1.
func TestHostMustBeLoopback(t *testing.T) {
	clock := newClock()
	src := newSource(clock.Now)
	addr := start(t, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now}))
	_, port, _ := strings.Cut(addr, ":")
	want := `{"error":"invalid_request","error_description":"the Host header must be 127.0.0.1, [::1] or localhost with this server's port"}` + "\n"
	for _, host := range []string{"evil.example:" + port, "127.0.0.2:" + port, "127.0.0.1:1", "127.0.0.1", "localhost", "localhost.evil.example:" + port, "[::2]:" + port, ""} {
		for _, path := range []string{"/oauth2/token", "/healthz"} {
			req := ballerina{clientID: testClientID, clientSecret: testSecret, refreshToken: testHandle}.request(host)
			if path == "/healthz" {
				req = []byte("GET /healthz HTTP/1.1\r\nhost: " + host + "\r\n\r\n")
			}
			resp, body := rawExchange(t, addr, req)
			if resp.StatusCode != 400 || body != want {
				t.Errorf("Host %q %s: %d %q", host, path, resp.StatusCode, body)
			}
		}
	}
	if src.calls.Load() != 0 {
		t.Error("a request with a foreign Host reached the source")
	}
	for _, host := range []string{"127.0.0.1:" + port, "LOCALHOST:" + port, "[::1]:" + port} {
		resp, body := rawExchange(t, addr, []byte("GET /healthz HTTP/1.1\r\nhost: "+host+"\r\n\r\n"))
		if resp.StatusCode != 200 || body != `{"status":"ok"}`+"\n" {
			t.Errorf("Host %q: %d %q", host, resp.StatusCode, body)
		}
	}
}

// TestHeaderLimit refuses headers over 16 KiB before the handler runs.
func TestHeaderLimit(t *testing.T) {
	clock := newClock()
	addr := start(t, NewHandler(Options{Source: newSource(clock.Now), Credentials: testCreds, Now: clock.Now}))
	resp, _ := rawExchange(t, addr, []byte("GET /healthz HTTP/1.1\r\nhost: "+addr+"\r\nx-pad: "+strings.Repeat("a", 32<<10)+"\r\n\r\n"))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}
