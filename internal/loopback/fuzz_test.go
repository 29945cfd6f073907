package loopback

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twauth/twauth/internal/termtext"
)

// FuzzCallback throws arbitrary query strings at the callback handler. It
// checks the properties the login's security rests on, whatever the input:
// no panic; a code is handed to the login only when the state matches
// exactly; a refused callback hands nothing over; every page carries the
// security headers; the code is never written into a page; and an error
// handed over is safe to print on a terminal.
func FuzzCallback(f *testing.F) {
	f.Add("code=abc&state=" + testState)
	f.Add("state=" + testState + "&error=access_denied&error_description=The+user+denied")
	f.Add("code=abc&state=" + testState + "&state=" + testState)
	f.Add("code=abc&state=" + testState + "x")
	f.Add("code=abc")
	f.Add("code=%ZZ&state=" + testState)
	f.Add("code=a%00b%0d%0a&state=" + testState + "&iss=https%3A%2F%2Fother")
	f.Add("code=" + strings.Repeat("A", 9000) + "&state=" + testState)
	f.Add(";;&&==")
	f.Add("state=" + testState + "&error=x%1B%5B2J&error_description=%C2%9B%E2%80%AE%0A")

	r, err := ParseRedirect("http://127.0.0.1:8080/callback")
	if err != nil {
		f.Fatal(err)
	}
	serve := func(rawQuery string) (*httptest.ResponseRecorder, *outcome) {
		s := &Server{redirect: r, state: testState, issuer: "https://x.com", results: make(chan outcome, 1)}
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/callback", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		select {
		case o := <-s.results:
			return rec, &o
		default:
			return rec, nil
		}
	}

	f.Fuzz(func(t *testing.T, rawQuery string) {
		rec, got := serve(rawQuery)
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "Cache-Control"} {
			if rec.Header().Get(h) == "" {
				t.Fatalf("%q: response has no %s header", rawQuery, h)
			}
		}
		q, perr := url.ParseQuery(rawQuery)
		stateOK := perr == nil && len(q["state"]) == 1 && q.Get("state") == testState && len(rawQuery) <= MaxQuery
		if got != nil {
			if rec.Code != http.StatusOK {
				t.Fatalf("%q: an outcome was handed over with status %d", rawQuery, rec.Code)
			}
			if !stateOK {
				t.Fatalf("%q: an outcome was handed over without an exactly matching state", rawQuery)
			}
			if got.err == nil && got.res.Code != q.Get("code") {
				t.Fatalf("%q: handed over code %q, the query says %q", rawQuery, got.res.Code, q.Get("code"))
			}
			if got.err == nil && q.Get("error") != "" {
				t.Fatalf("%q: a code was accepted from an error response", rawQuery)
			}
			if got.err != nil {
				if msg := got.err.Error(); termtext.Safe(msg) != msg {
					t.Fatalf("%q: the error %q is not safe for a terminal", rawQuery, msg)
				}
			}
		} else if rec.Code == http.StatusOK {
			t.Fatalf("%q: status 200 but nothing handed over", rawQuery)
		}
		// The code must not be echoed. Compare with the page for the same
		// query minus the code, so text that is on every page anyway does
		// not count.
		if perr == nil && len(q.Get("code")) >= 4 {
			code := q.Get("code")
			q2 := url.Values{}
			for k, v := range q {
				if k != "code" {
					q2[k] = v
				}
			}
			base, _ := serve(q2.Encode())
			if strings.Contains(rec.Body.String(), code) && !strings.Contains(base.Body.String(), code) {
				t.Fatalf("%q: the page shows the code", rawQuery)
			}
		}
	})
}
