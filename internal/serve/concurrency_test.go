package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// tokenRequest is a ballerina/oauth2 request for ServeHTTP, as the server
// would hand it over from 127.0.0.1:8766.
func tokenRequest(ctx context.Context) *http.Request {
	body := "grant_type=refresh_token&refresh_token=" + testHandle
	r := httptest.NewRequestWithContext(context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8766}),
		"POST", "http://127.0.0.1:8766/oauth2/token", strings.NewReader(body))
	r.SetBasicAuth(testClientID, testSecret)
	return r
}

func accessToken(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &answer) != nil {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	return answer.AccessToken
}

// TestRequestsDuringARefreshWaitForIt: the requests that come while the
// token is being refreshed all wait for that one refresh and get its token.
func TestRequestsDuringARefreshWaitForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource(time.Now) // the bubble's clock
		src.gate = make(chan struct{})
		var logs logBuffer
		h := NewHandler(Options{Source: src, Credentials: testCreds, Log: logs.logger()})
		time.Sleep(2 * time.Hour) // the token expires

		const n = 20
		recs := make([]*httptest.ResponseRecorder, n)
		var wg sync.WaitGroup
		for i := range recs {
			recs[i] = httptest.NewRecorder()
			wg.Go(func() { h.ServeHTTP(recs[i], tokenRequest(t.Context())) })
		}
		synctest.Wait() // every request is blocked: one in the source, the rest waiting for it
		if got := src.calls.Load(); got != 1 {
			t.Errorf("%d calls to the source while a refresh runs, want 1", got)
		}
		close(src.gate)
		wg.Wait()
		for _, rec := range recs {
			if got := accessToken(t, rec); got != "x-access-token-2-SECRET" {
				t.Errorf("got %s", got)
			}
		}
		if src.refreshCount() != 1 || src.calls.Load() != 1 {
			t.Errorf("%d refreshes in %d calls, want 1 in 1", src.refreshCount(), src.calls.Load())
		}
		if got := strings.Count(logs.String(), `"waited_for_refresh":true`); got != n {
			t.Errorf("%d log lines say they waited, want %d:\n%s", got, n, logs.String())
		}
	})
}

// TestHangingSourceIsBounded: a source that never answers costs a request
// Options.Timeout, then 503 with Retry-After; the call itself is cancelled
// at RefreshTimeout and the next request tries again.
func TestHangingSourceIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource(time.Now)
		src.hang = true
		var logs logBuffer
		h := NewHandler(Options{Source: src, Credentials: testCreds, Timeout: 30 * time.Second, RefreshTimeout: 2 * time.Minute, Log: logs.logger()})
		time.Sleep(2 * time.Hour)

		begin := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, tokenRequest(t.Context()))
		if waited := time.Since(begin); waited != 30*time.Second {
			t.Errorf("the request waited %v, want the 30s timeout", waited)
		}
		want := `{"error":"temporarily_unavailable","error_description":"twauth could not get a fresh X token (its log says why): retry in 10 s"}` + "\n"
		if rec.Code != 503 || rec.Body.String() != want || rec.Header().Get("Retry-After") != "10" {
			t.Errorf("answer %d %q Retry-After %q", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
		}
		if !strings.Contains(logs.String(), `"error":"context deadline exceeded"`) {
			t.Errorf("the log does not say why:\n%s", logs.String())
		}

		time.Sleep(2*time.Minute - 30*time.Second) // the call reaches RefreshTimeout
		synctest.Wait()
		src.mu.Lock()
		ctxErrs := src.ctxErrs
		src.mu.Unlock()
		if len(ctxErrs) != 1 || !errors.Is(ctxErrs[0], context.DeadlineExceeded) {
			t.Fatalf("the hanging call ended with %v, want one deadline", ctxErrs)
		}
		src.hang = false
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, tokenRequest(t.Context()))
		if got := accessToken(t, rec); got != "x-access-token-2-SECRET" || src.calls.Load() != 2 {
			t.Errorf("after the hang: %s in %d calls", got, src.calls.Load())
		}
	})
}

// TestClientHangingUpDoesNotCancelTheRefresh: X may already have rotated
// the refresh token when the program gives up, so the refresh goes on and
// its token serves the next request without another call.
func TestClientHangingUpDoesNotCancelTheRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource(time.Now)
		src.gate = make(chan struct{})
		h := NewHandler(Options{Source: src, Credentials: testCreds})
		time.Sleep(2 * time.Hour)

		ctx, hangUp := context.WithCancel(t.Context())
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { h.ServeHTTP(rec, tokenRequest(ctx)); close(done) }()
		synctest.Wait()
		hangUp()
		<-done
		if rec.Code != 503 {
			t.Errorf("the request that hung up got %d, want 503", rec.Code)
		}
		close(src.gate)
		synctest.Wait()

		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, tokenRequest(t.Context()))
		if got := accessToken(t, rec); got != "x-access-token-2-SECRET" || src.calls.Load() != 1 || src.refreshCount() != 1 {
			t.Errorf("got %s after %d calls, %d refreshes; want the refreshed token from 1 call", got, src.calls.Load(), src.refreshCount())
		}
	})
}
