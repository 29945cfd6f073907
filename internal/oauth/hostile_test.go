package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestServerTextIsSafeForATerminal: ESC, C1 controls and bidi overrides in
// an error_description, an error code, a problem JSON, a username or a
// granted scope reach the caller as visible escapes.
func TestServerTextIsSafeForATerminal(t *testing.T) {
	const hostile = "a\x1b]0;pwned\x07b\u009b31mc\u202ed\u2066e\x00f\nend"
	const shown = `a\x1b]0;pwned\x07b\u009b31mc\u202ed\u2066e\x00f\nend`
	enc := func(s string) string {
		return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\x00", `\u0000`, "\x07", `\u0007`, "\x1b", `\u001b`).Replace(s)
	}

	e := newEndpoint(t, jsonAnswer(400, `{"error":"invalid_request`+enc("\x1b[2J")+`","error_description":"`+enc(hostile)+`"}`))
	_, err := newClient(e, "", nil).Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback")
	want := `X refused to exchange the authorization code: invalid_request\x1b[2J (` + shown + `)`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n %q\nwant\n %q", err, want)
	}
	speaksForItself(t, err.Error())

	// A form-encoded error answer (golang.org/x/oauth2 reads those too).
	e = newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		w.WriteHeader(400)
		w.Write([]byte("error=invalid_grant&error_description=" + url.QueryEscape(hostile)))
	})
	_, err = newClient(e, "", &sleeps{}).Refresh(context.Background(), "RT-1")
	if want := "X refused to refresh the token: invalid_grant (" + shown + ")"; err == nil || err.Error() != want {
		t.Fatalf("form error\n %q\nwant\n %q", err, want)
	}

	e = newEndpoint(t, jsonAnswer(200, `{"data":{"id":"1`+enc("\u202e")+`","name":"`+enc(hostile)+`","username":"bad`+enc("\x1b[31m")+`"}}`),
		jsonAnswer(403, `{"title":"Forbidden`+enc("\u009b")+`","detail":"`+enc(hostile)+`","type":"about:blank","status":403}`))
	c := newClient(e, "", nil)
	u, err := c.Me(context.Background(), "AT-12345678")
	if err != nil || *u != (User{ID: `1\u202e`, Name: shown, Username: `bad\x1b[31m`}) {
		t.Fatalf("Me = %+v, %v", u, err)
	}
	_, err = c.Me(context.Background(), "AT-12345678")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Title != `Forbidden\u009b` || err.Error() != "X refused to look up the user: HTTP 403 Forbidden ("+shown+")" {
		t.Fatalf("Me error = %q (%+v)", err, ae)
	}

	e = newEndpoint(t, jsonAnswer(200, `{"token_type":"bearer","expires_in":7200,"access_token":"AT-1","refresh_token":"RT-2","scope":"tweet.read `+enc("\x1b[8m")+`users.read"}`))
	tok, err := newClient(e, "", nil).Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback")
	if err != nil || tok.Scope != `tweet.read \x1b[8musers.read` {
		t.Fatalf("scope = %q, %v", tok.Scope, err)
	}
}

// TestTokensOutsideRFC6750AreRefused: an access or refresh token with a
// newline, ESC, NUL or a space is refused as unusable, after the refresh
// hook has the raw answer.
func TestTokensOutsideRFC6750AreRefused(t *testing.T) {
	for _, bad := range []struct{ field, value string }{
		{"access_token", `AT\nline2`},
		{"access_token", `AT\u001b[31m`},
		{"access_token", `AT\u0000`},
		{"access_token", `AT with space`},
		{"access_token", `=AT`},
		{"refresh_token", `RT\r\nX`},
		{"refresh_token", `RT\u202e`},
	} {
		fields := map[string]string{"access_token": "AT-ok", "refresh_token": "RT-ok"}
		fields[bad.field] = bad.value
		body := `{"token_type":"bearer","expires_in":7200,"access_token":"` + fields["access_token"] + `","refresh_token":"` + fields["refresh_token"] + `"}`
		e := newEndpoint(t, jsonAnswer(200, body))
		c := newClient(e, "", nil)
		var journal []string
		c.OnRefreshAnswer = func(b []byte) { journal = append(journal, string(b)) }
		tok, err := c.Refresh(context.Background(), "RT-1")
		var re *ResponseError
		if !errors.As(err, &re) || tok != nil {
			t.Fatalf("%s %s: Refresh = %+v, %v; want a ResponseError", bad.field, bad.value, tok, err)
		}
		want := "X's answer to the request to refresh the token is unusable (HTTP 200): the access_token has characters a bearer token cannot have (RFC 6750 section 2.1); nothing was saved"
		if bad.field == "refresh_token" {
			want = "X's answer to the request to refresh the token is unusable (HTTP 200): the refresh_token has characters a token cannot have (RFC 6750 section 2.1); nothing was saved"
		}
		if err.Error() != want {
			t.Errorf("%s %s: error\n %q\nwant\n %q", bad.field, bad.value, err, want)
		}
		if len(journal) != 1 || journal[0] != body {
			t.Errorf("%s %s: the hook got %q, want the answer verbatim before the refusal", bad.field, bad.value, journal)
		}
		if _, err := c.Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback"); !errors.As(err, &re) {
			t.Errorf("%s %s: Exchange accepted it: %v", bad.field, bad.value, err)
		}
	}
	for tok, ok := range map[string]bool{
		"AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2FYN": false, "abc-._~+/XYZ09": true, "abc==": true, "a=b": false, "==": false, "": false,
		"dGhpcyBpcyBhIHRva2Vu": true, "é": false, "a\tb": false,
	} {
		if ValidToken(tok) != ok {
			t.Errorf("ValidToken(%q) = %v, want %v", tok, !ok, ok)
		}
	}
}

// TestEchoedSecretsAreScrubbed: a server that quotes back what it was sent
// (the form body, the Authorization header, the token) gets every secret
// replaced, in every encoding twauth sends it in.
func TestEchoedSecretsAreScrubbed(t *testing.T) {
	const (
		id     = "cid 123/ä"
		secret = "s3cr:et/+ x="
		code   = "CODE-abc/def+ghi"
		ver    = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF"
		rt     = "RT-refresh/token+value=="
		at     = "AT-access/token+value=="
	)
	// echo answers status with an error_description holding everything
	// the request carried, as sent and decoded, and the plain Basic
	// credential of the secret.
	echo := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			raw := r.Header.Get("Authorization") + " | " + string(body) + " | "
			for _, k := range []string{"code", "code_verifier", "refresh_token", "token", "client_id"} {
				raw += form.Get(k) + " "
			}
			if _, pass, ok := r.BasicAuth(); ok {
				raw += pass + " " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret)) + " " + base64.RawStdEncoding.EncodeToString([]byte(id+":"+secret))
			}
			jsonAnswer(status, `{"error":"invalid_request","error_description":`+quote(raw)+`}`)(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	secrets := []string{secret, code, ver, rt, at,
		url.QueryEscape(secret), url.QueryEscape(code), url.QueryEscape(ver), url.QueryEscape(rt), url.QueryEscape(at),
		base64.StdEncoding.EncodeToString([]byte(id + ":" + secret)),
		base64.RawStdEncoding.EncodeToString([]byte(id + ":" + secret)),
		base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret))),
		strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))), "="),
		"s3cr", "refresh/token", "access/token", "abcdefghijklmnop",
	}
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		msg := err.Error()
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("%s: error holds %q:\n%s", what, s, msg)
			}
		}
		if !strings.Contains(msg, "[redacted]") {
			t.Errorf("%s: nothing was redacted: %s", what, msg)
		}
	}
	for _, withSecret := range []bool{true, false} {
		tokenSrv, revokeSrv := echo(400), echo(401)
		c := &Client{ClientID: id, TokenURL: tokenSrv.URL, RevokeURL: revokeSrv.URL, Retry: RetryPolicy{Sleep: (&sleeps{}).sleep}}
		if withSecret {
			c.ClientSecret = secret
		}
		_, err := c.Exchange(context.Background(), code, ver, "http://127.0.0.1:8765/callback")
		check("exchange", err)
		if withSecret {
			want := "X refused to exchange the authorization code: invalid_request (Basic [redacted] | code=[redacted]&code_verifier=[redacted]&grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback | [redacted] [redacted]    [redacted] [redacted] [redacted])"
			if err.Error() != want {
				t.Errorf("exchange:\n %s\nwant\n %s", err, want)
			}
		}
		_, err = c.Refresh(context.Background(), rt)
		check("refresh", err)
		_, err = c.Revoke(context.Background(), at, "access_token")
		check("revoke", err)
	}
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		jsonAnswer(401, `{"title":"Unauthorized","detail":`+quote(auth+" "+strings.TrimPrefix(auth, "Bearer ")+" "+url.QueryEscape(at))+`}`)(w, r)
	})
	c := newClient(e, secret, nil)
	_, err := c.Me(context.Background(), at)
	check("me", err)
	if err.Error() != "X refused to look up the user: HTTP 401 Unauthorized (Bearer [redacted] [redacted] [redacted])" {
		t.Errorf("me: %q", err)
	}
}

func quote(s string) string {
	b := strings.Builder{}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// neverSend fails the test if a request reaches it.
type neverSend struct{ t *testing.T }

func (n neverSend) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("a request was sent to %s", r.URL)
	return nil, errors.New("sent")
}

func TestCheckEndpoint(t *testing.T) {
	ok := []string{
		"https://api.x.com/2/oauth2/token", "HTTPS://api.x.com", "https://203.0.113.7/token",
		"http://127.0.0.1:8080/token", "http://127.1.2.3/t", "http://[::1]:9/t", "http://localhost/t", "http://LOCALHOST:1/t",
	}
	for _, u := range ok {
		if err := CheckEndpoint("token URL", u); err != nil {
			t.Errorf("CheckEndpoint(%q) = %v", u, err)
		}
	}
	bad := map[string]string{
		"http://203.0.113.7/token":   "token URL http://203.0.113.7/token is plain http to another machine, which would send credentials and tokens in the clear: use https (http is only for 127.0.0.1, ::1 or localhost)",
		"http://api.x.com/token":     "token URL http://api.x.com/token is plain http to another machine, which would send credentials and tokens in the clear: use https (http is only for 127.0.0.1, ::1 or localhost)",
		"http://localhost.evil.com/": "token URL http://localhost.evil.com/ is plain http to another machine, which would send credentials and tokens in the clear: use https (http is only for 127.0.0.1, ::1 or localhost)",
		"http://[::ffff:10.0.0.1]/":  "token URL http://[::ffff:10.0.0.1]/ is plain http to another machine, which would send credentials and tokens in the clear: use https (http is only for 127.0.0.1, ::1 or localhost)",
		"ftp://api.x.com/token":      "token URL ftp://api.x.com/token is not an http(s) URL",
		"file:///etc/passwd":         "token URL file:///etc/passwd is not an http(s) URL",
		"api.x.com/token":            "token URL api.x.com/token is not an http(s) URL",
		"https:///token":             "token URL https:///token has no host",
		"http://":                    "token URL http:// has no host",
		"https://x.com/%zz":          "token URL https://x.com/%zz is not a URL",
		"https://x.com/\x1b[2J":      `token URL https://x.com/\x1b[2J is not a URL`,
	}
	for u, want := range bad {
		err := CheckEndpoint("token URL", u)
		var ee *EndpointError
		if !errors.As(err, &ee) || ee.URL != u || err.Error() != want {
			t.Errorf("CheckEndpoint(%q) = %v, want\n %s", u, err, want)
		}
	}
}

// TestClientRefusesCleartextToAnotherHost: every request of the Client
// checks its endpoint first, so no credential leaves in the clear.
func TestClientRefusesCleartextToAnotherHost(t *testing.T) {
	const public = "http://203.0.113.7"
	c := &Client{ClientID: "cid", ClientSecret: "secret-123456", HTTP: &http.Client{Transport: neverSend{t}},
		AuthURL: public + "/i/oauth2/authorize", TokenURL: public + "/2/oauth2/token", RevokeURL: public + "/2/oauth2/revoke", APIURL: public}
	isEndpoint := func(what, name string, err error) {
		t.Helper()
		var ee *EndpointError
		if !errors.As(err, &ee) || ee.Name != name || !strings.HasPrefix(ee.URL, public) {
			t.Errorf("%s: err = %v, want an EndpointError for the %s", what, err, name)
		}
	}
	_, err := c.AuthorizeURL(AuthRequest{})
	isEndpoint("AuthorizeURL", "authorization URL", err)
	_, err = c.Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback")
	isEndpoint("Exchange", "token URL", err)
	_, err = c.Refresh(context.Background(), "RT")
	isEndpoint("Refresh", "token URL", err)
	_, err = c.Revoke(context.Background(), "RT", "")
	isEndpoint("Revoke", "revoke URL", err)
	_, err = c.Me(context.Background(), "AT")
	isEndpoint("Me", "API URL", err)
}

// TestDescriptionKeptWhole: the reason is kept up to 1000 characters, where
// servers such as Ory Hydra put the specific part last; past that it is cut
// and says so.
func TestDescriptionKeptWhole(t *testing.T) {
	long := strings.Repeat("The request is missing a required parameter, includes an invalid parameter value. ", 10) + "The redirect_uri does not match."
	e := newEndpoint(t, jsonAnswer(400, `{"error":"invalid_request","error_description":"`+long+`"}`))
	_, err := newClient(e, "", nil).Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback")
	if len(long) > 1000 || err == nil || err.Error() != "X refused to exchange the authorization code: invalid_request ("+long+")" {
		t.Fatalf("%d characters: %v", len(long), err)
	}
	huge := strings.Repeat("abcdefghij", 150)
	e = newEndpoint(t, jsonAnswer(400, `{"error":"invalid_request","error_description":"`+huge+`"}`))
	_, err = newClient(e, "", nil).Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback")
	if err == nil || err.Error() != "X refused to exchange the authorization code: invalid_request ("+huge[:1000]+"…(cut))" {
		t.Fatalf("1500 characters: %v", err)
	}
}

func TestOfflineGranted(t *testing.T) {
	for scope, want := range map[string]bool{
		"tweet.read offline.access":    true,
		"openid offline_access":        true,
		"offline.access":               true,
		"tweet.read users.read":        false,
		"offline.accessx":              false,
		"":                             false,
		"  offline_access  tweet.read": true,
	} {
		if OfflineGranted(scope) != want {
			t.Errorf("OfflineGranted(%q) = %v", scope, !want)
		}
	}
}
