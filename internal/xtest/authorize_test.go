package xtest

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestAuthorizeApprovesWithRedirect(t *testing.T) {
	s := start(t, Options{})
	r := authorizeWith(t, s, authParams(publicID))
	q := redirectQuery(t, r)
	if q.Get("state") != "state-123" || len(q) != 2 {
		t.Fatalf("redirect query %v, want state and code only", q)
	}
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, redirect+"?state=state-123&code=") {
		t.Errorf("Location %q: want state then code, as X sends them", loc)
	}
	if c := q.Get("code"); len(c) < 60 || !isBase64URL(c) {
		t.Errorf("code %q does not look like X's", c)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	if got := s.Authorizations(); len(got) != 1 || got[0].Get("code_challenge") != rfcChallenge {
		t.Errorf("Authorizations() = %v", got)
	}
	if s.Count(AuthorizePath) != 1 {
		t.Errorf("Count(AuthorizePath) = %d", s.Count(AuthorizePath))
	}
}

func TestAuthorizeKeepsRedirectQueryAndAddsIssuer(t *testing.T) {
	const withQuery = "http://127.0.0.1:9999/cb?app=a%20b&x=1"
	s := start(t, Options{Issuer: "https://fake.x.test", Clients: []Client{{ID: "q", RedirectURIs: []string{withQuery}}}})
	q := authParams("q")
	q.Set("redirect_uri", withQuery)
	loc := authorizeWith(t, s, q).header.Get("Location")
	if !strings.HasPrefix(loc, withQuery+"&state=state-123&code=") || !strings.HasSuffix(loc, "&iss=https%3A%2F%2Ffake.x.test") {
		t.Fatalf("Location %q: want the registered query kept, then state, code, iss", loc)
	}
	// iss comes on error redirects too (RFC 9207 section 2).
	s.SetDeny(true)
	loc = authorizeWith(t, s, q).header.Get("Location")
	if !strings.Contains(loc, "error=access_denied") || !strings.HasSuffix(loc, "&iss=https%3A%2F%2Ffake.x.test") {
		t.Fatalf("deny Location %q: want error and iss", loc)
	}
}

func TestAuthorizeRedirectURIMustMatchExactly(t *testing.T) {
	s := start(t, Options{})
	for _, uri := range []string{
		"http://127.0.0.1:8765/callback/", // trailing slash
		"http://127.0.0.1:8766/callback",  // port
		"https://127.0.0.1:8765/callback", // scheme
		"http://localhost:8765/callback",  // host
		"http://127.0.0.1/callback",       // no port
		"http://127.0.0.1:8765/Callback",  // case of the path
		"http://127.0.0.1:8765/callback?x=1",
		"http://127.0.0.1:8765/callback#f",
		"http://127.0.0.1:8765",
		"",
	} {
		t.Run(uri, func(t *testing.T) {
			q := authParams(publicID)
			q.Set("redirect_uri", uri)
			r := authorizeWith(t, s, q)
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				t.Fatalf("got %d Location %q, want a 400 page and no redirect", r.status, r.header.Get("Location"))
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "Something went wrong") {
				t.Fatalf("want X's error page, got %s", r.body)
			}
		})
	}
}

func TestAuthorizeClientErrorsArePages(t *testing.T) {
	s := start(t, Options{})
	s.AddClient(Client{ID: "other", RedirectURIs: []string{"http://127.0.0.1:1/other"}})
	cases := map[string]func(url.Values){
		"unknown client":  func(q url.Values) { q.Set("client_id", "nobody") },
		"missing client":  func(q url.Values) { q.Del("client_id") },
		"repeated client": func(q url.Values) { q.Add("client_id", publicID) },
		"repeated uri":    func(q url.Values) { q.Add("redirect_uri", redirect) },
		"escaped reason":  func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1/<script>") },
		"other app's uri": func(q url.Values) { q.Set("client_id", "other") },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			q := authParams(publicID)
			edit(q)
			r := authorizeWith(t, s, q)
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				t.Fatalf("got %d Location %q", r.status, r.header.Get("Location"))
			}
			if strings.Contains(r.body, "<script>") {
				t.Fatal("reason not HTML-escaped")
			}
		})
	}
}

func TestAuthorizeErrorRedirects(t *testing.T) {
	s := start(t, Options{})
	long := strings.Repeat("s", 501)
	cases := []struct {
		name string
		edit func(url.Values)
		want string // error code; "" = approved
	}{
		{"state of 500", func(q url.Values) { q.Set("state", long[:500]) }, ""},
		{"plain", func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", strings.Repeat("~", 128))
		}, ""},
		{"scope repeated inside", func(q url.Values) { q.Set("scope", "users.read  users.read tweet.read") }, ""},
		{"no response_type", func(q url.Values) { q.Del("response_type") }, "invalid_request"},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"unknown scope", func(q url.Values) { q.Set("scope", "tweet.read users.write") }, "invalid_scope"},
		{"comma scopes", func(q url.Values) { q.Set("scope", "tweet.read,users.read") }, "invalid_scope"},
		{"no scope", func(q url.Values) { q.Del("scope") }, "invalid_request"},
		{"blank scope", func(q url.Values) { q.Set("scope", "  ") }, "invalid_request"},
		{"state of 501", func(q url.Values) { q.Set("state", long) }, "invalid_request"},
		{"no challenge", func(q url.Values) { q.Del("code_challenge") }, "invalid_request"},
		{"no method", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"method s256", func(q url.Values) { q.Set("code_challenge_method", "s256") }, "invalid_request"},
		{"method S512", func(q url.Values) { q.Set("code_challenge_method", "S512") }, "invalid_request"},
		{"challenge 42", func(q url.Values) { q.Set("code_challenge", rfcChallenge[:42]) }, "invalid_request"},
		{"challenge bad char", func(q url.Values) { q.Set("code_challenge", rfcChallenge[:42]+"=") }, "invalid_request"},
		{"S256 challenge 44", func(q url.Values) { q.Set("code_challenge", rfcChallenge+"A") }, "invalid_request"},
		{"plain 129", func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", strings.Repeat("a", 129))
		}, "invalid_request"},
		{"repeated scope", func(q url.Values) { q.Add("scope", "tweet.read") }, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := authParams(publicID)
			c.edit(q)
			rq := redirectQuery(t, authorizeWith(t, s, q))
			if c.want == "" {
				if rq.Get("code") == "" || rq.Has("error") {
					t.Fatalf("want a code, got %v", rq)
				}
				return
			}
			if rq.Get("error") != c.want || rq.Get("error_description") == "" || rq.Has("code") {
				t.Fatalf("got %v, want error %s", rq, c.want)
			}
			if rq.Get("state") != q.Get("state") {
				t.Fatalf("state %q not echoed", q.Get("state"))
			}
		})
	}
	t.Run("no state", func(t *testing.T) {
		q := authParams(publicID)
		q.Del("state")
		rq := redirectQuery(t, authorizeWith(t, s, q))
		if rq.Get("error") != "invalid_request" || rq.Has("state") {
			t.Fatalf("got %v, want invalid_request without state", rq)
		}
	})
}

func TestAuthorizeMethodNotAllowed(t *testing.T) {
	s := start(t, Options{})
	req, _ := http.NewRequest(http.MethodPost, s.AuthURL(), strings.NewReader(authParams(publicID).Encode()))
	r := do(t, req)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Fatalf("got %d Allow %q", r.status, r.header.Get("Allow"))
	}
}

func TestAuthorizeDeny(t *testing.T) {
	s := start(t, Options{})
	s.SetDeny(true)
	r := authorizeWith(t, s, authParams(publicID))
	loc := r.header.Get("Location")
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(redirect) + `\?error=access_denied&error_description=[^&]+&state=state-123$`).MatchString(loc) {
		t.Fatalf("Location %q", loc)
	}
	s.SetDeny(false)
	code(t, s, authParams(publicID))
}

var (
	hiddenIDRe = regexp.MustCompile(`name="id" value="([^"]+)"`)
	titleRe    = regexp.MustCompile(`<title>Authorize app - twauth dev server</title>`)
	authBtnRe  = regexp.MustCompile(`<button type="submit" id="authorize">Authorize app</button>`)
	cancelRe   = regexp.MustCompile(`<button type="submit" id="cancel">Cancel</button>`)
)

func TestConsentPage(t *testing.T) {
	s := start(t, Options{Consent: true})
	page := authorizeWith(t, s, authParams(confID))
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("got %d %q", page.status, page.header.Get("Content-Type"))
	}
	for _, re := range []*regexp.Regexp{titleRe, authBtnRe, cancelRe} {
		if !re.MatchString(page.body) {
			t.Errorf("consent page lacks %s", re)
		}
	}
	for _, want := range []string{confID, "tweet.read", "users.read", "offline.access", `action="` + DecidePath + `"`, `method="post"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "src=") || strings.Contains(page.body, "href=") {
		t.Error("consent page loads something: it must be self-contained")
	}
	if page.header.Get("Content-Security-Policy") == "" || page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", page.header)
	}
	m := hiddenIDRe.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no hidden id field")
	}
	id := m[1]

	decide := func(id, decision string) response {
		return post(t, s.URL()+DecidePath, url.Values{"id": {id}, "decision": {decision}}, "", "")
	}
	rq := redirectQuery(t, decide(id, "approve"))
	if rq.Get("code") == "" || rq.Get("state") != "state-123" {
		t.Fatalf("approve: %v", rq)
	}
	if r := decide(id, "approve"); r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
		t.Fatalf("second decision: %d, want a 400 page", r.status)
	}

	id = hiddenIDRe.FindStringSubmatch(authorizeWith(t, s, authParams(confID)).body)[1]
	rq = redirectQuery(t, decide(id, "deny"))
	if rq.Get("error") != "access_denied" || rq.Get("error_description") == "" || rq.Get("state") != "state-123" || rq.Has("code") {
		t.Fatalf("deny: %v", rq)
	}

	if r := decide("forged", "approve"); r.status != http.StatusBadRequest {
		t.Fatalf("unknown id: %d", r.status)
	}
	id = hiddenIDRe.FindStringSubmatch(authorizeWith(t, s, authParams(confID)).body)[1]
	if r := decide(id, "maybe"); r.status != http.StatusBadRequest {
		t.Fatalf("bad decision: %d", r.status)
	}
	if r := get(t, s.URL()+DecidePath+"?id="+id+"&decision=approve"); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET decide: %d", r.status)
	}
	// The bad decision and the GET did not spend the pending request.
	redirectQuery(t, decide(id, "approve"))
}

func TestConsentExpires(t *testing.T) {
	clock := NewClock(t0)
	s := start(t, Options{Consent: true, Now: clock.Now})
	id := hiddenIDRe.FindStringSubmatch(authorizeWith(t, s, authParams(publicID)).body)[1]
	clock.Advance(pendingTTL + 1)
	r := post(t, s.URL()+DecidePath, url.Values{"id": {id}, "decision": {"approve"}}, "", "")
	if r.status != http.StatusBadRequest {
		t.Fatalf("decision after %v: %d, want 400", pendingTTL, r.status)
	}
}

func TestSetConsentAtRuntime(t *testing.T) {
	s := start(t, Options{})
	s.SetConsent(true)
	if r := authorizeWith(t, s, authParams(publicID)); r.status != http.StatusOK {
		t.Fatalf("with consent: %d", r.status)
	}
	s.SetConsent(false)
	code(t, s, authParams(publicID))
}

func TestAppendQuery(t *testing.T) {
	for _, c := range []struct{ base, want string }{
		{"http://h/cb", "http://h/cb?a=1&b=x+y"},
		{"http://h/cb?", "http://h/cb?a=1&b=x+y"},
		{"http://h/cb?k=v", "http://h/cb?k=v&a=1&b=x+y"},
		{"http://h/cb#frag", "http://h/cb?a=1&b=x+y"},
	} {
		if got := appendQuery(c.base, "a", "1", "b", "x y"); got != c.want {
			t.Errorf("appendQuery(%q) = %q, want %q", c.base, got, c.want)
		}
	}
}
