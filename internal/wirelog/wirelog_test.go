package wirelog

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestTraceRedactsSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session=COOKIE-SECRET")
		io.WriteString(w, `{"token_type":"bearer","access_token":"AT-SECRET","refresh_token":"RT-SECRET","nested":{"id_token":"ID-SECRET"},"scope":"tweet.read"}`)
	}))
	defer srv.Close()
	var out bytes.Buffer
	c := &http.Client{Transport: &Transport{Out: &out}}
	form := url.Values{"code": {"CODE-SECRET"}, "code_verifier": {"VERIFIER-SECRET"}, "grant_type": {"authorization_code"}, "client_secret": {"CS-SECRET"}, "refresh_token": {"RT-OLD-SECRET"}}
	req, _ := http.NewRequest("POST", srv.URL+"/2/oauth2/token?code=Q-SECRET&x=1", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cid", "BASIC-SECRET")
	req.Header.Set("Cookie", "a=COOKIE2-SECRET")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "AT-SECRET") {
		t.Fatal("the trace consumed the answer's body")
	}
	trace := out.String()
	if strings.Contains(trace, "SECRET") || strings.Contains(trace, "Y2lkOkJBU0lD") {
		t.Fatalf("secret in trace:\n%s", trace)
	}
	for _, want := range []string{
		"> POST " + srv.URL + "/2/oauth2/token?code=[redacted]&x=1",
		"> Authorization: Basic [redacted]",
		"grant_type=authorization_code",
		`"scope":"tweet.read"`,
		"< 200 OK",
		"< Set-Cookie: [redacted]",
	} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
}

func TestRedactBodyOtherTypes(t *testing.T) {
	if got := RedactBody("text/html", []byte("<html>secret</html>")); got != "[19 bytes of text/html]" {
		t.Fatalf("html body = %q", got)
	}
	if got := RedactBody("application/json", []byte(`{"access_token":`)); !strings.Contains(got, "unparsable") {
		t.Fatalf("broken json = %q", got)
	}
	if got := RedactBody("", []byte(`[{"token":"x"}]`)); got != `[{"token":"[redacted]"}]` {
		t.Fatalf("json array = %q", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTraceIsSafeForATerminal: a hostile answer (status, headers, a JSON or
// form body with ESC, C1 controls and bidi overrides) and a form body with
// raw control bytes are traced as visible escapes, secrets still hidden.
func TestTraceIsSafeForATerminal(t *testing.T) {
	answers := map[string]*http.Response{
		"json": {
			Status: "200 OK\x1b]0;pwned\x07",
			Header: http.Header{"Content-Type": {"application/json"}, "X-Evil\u009b": {"a\x1b[2Jb\u202ec"}},
			Body:   io.NopCloser(strings.NewReader(`{"access_token":"AT-SECRET-1","scope":"tweet.read\u009b31m","username":"\u202egnp.exe","x":"\u001b[8m"}`)),
		},
		"form": {
			Status: "400 Bad Request",
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body:   io.NopCloser(strings.NewReader("error=invalid_request&error_description=a%1B%5B31mb%C2%9Bc%E2%80%AEd+e&refresh_token=RT-SECRET-2&raw=\x1b[2J")),
		},
		"html": {
			Status: "502 Bad Gateway",
			Header: http.Header{"Content-Type": {"text/html\x1b[2J"}},
			Body:   io.NopCloser(strings.NewReader("<html>\x1b[2J</html>")),
		},
	}
	want := map[string][]string{
		"json": {
			`< 200 OK\x1b]0;pwned\x07 (`,
			`< X-Evil\u009b: a\x1b[2Jb\u202ec`,
			`< {"access_token":"[redacted]","scope":"tweet.read\u009b31m","username":"\u202egnp.exe","x":"\u001b[8m"}`,
		},
		"form": {
			`< 400 Bad Request (`,
			`< error=invalid_request&error_description=a%1B%5B31mb%C2%9Bc%E2%80%AEd+e&refresh_token=[redacted]&raw=%1B%5B2J`,
		},
		"html": {
			`< Content-Type: text/html\x1b[2J`,
			`< [17 bytes of text/html\x1b[2J]`,
		},
	}
	for name, resp := range answers {
		var out bytes.Buffer
		tr := &Transport{Out: &out, Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp.Request = r
			return resp, nil
		})}
		body := "grant_type=refresh_token&refresh_token=RT-OLD-SECRET&note=x\x1b[31my\u009bz&scope=a%E2%80%AEb"
		req, _ := http.NewRequest("POST", "http://127.0.0.1:1/2/oauth2/token", strings.NewReader(body))
		req.URL.RawQuery = "state=\x1b"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Note", "a\u202eb")
		if _, err := (&http.Client{Transport: tr}).Do(req); err != nil {
			t.Fatal(err)
		}
		trace := out.String()
		for _, w := range append(want[name],
			`> POST http://127.0.0.1:1/2/oauth2/token?state=%1B`,
			`> X-Note: a\u202eb`,
			`> grant_type=refresh_token&refresh_token=[redacted]&note=x%1B%5B31my%C2%9Bz&scope=a%E2%80%AEb`,
		) {
			if !strings.Contains(trace, w) {
				t.Errorf("%s: trace lacks\n %s\n%s", name, w, trace)
			}
		}
		for _, r := range trace {
			if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e || r == 0x2066 {
				t.Errorf("%s: trace holds %U:\n%q", name, r, trace)
			}
		}
		if strings.Contains(trace, "SECRET") {
			t.Errorf("%s: secret in trace:\n%s", name, trace)
		}
	}
}

// TestTraceScrubsEchoedBasicCredential: an answer that quotes the Basic
// credential, padded or not, or its decoded secret, shows none of them.
func TestTraceScrubsEchoedBasicCredential(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/t", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cid", url.QueryEscape("s3cr:et/+x"))
	cred := strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
	if !strings.HasSuffix(cred, "=") {
		t.Fatalf("the credential %q has no padding: the test would prove nothing", cred)
	}
	echo := `{"error_description":"` + cred + " " + strings.TrimRight(cred, "=") + " s3cr:et/+x " + url.QueryEscape("s3cr:et/+x") + `"}`
	var out bytes.Buffer
	tr := &Transport{Out: &out, Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{Status: "401 Unauthorized", StatusCode: 401, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(echo)), Request: r}, nil
	})}
	if _, err := (&http.Client{Transport: tr}).Do(req); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `< {"error_description":"[redacted] [redacted] [redacted] [redacted]"}`) {
		t.Fatalf("trace:\n%s", out.String())
	}
}
