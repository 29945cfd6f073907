package xtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFaultAnswers(t *testing.T) {
	s := start(t, Options{})
	cases := []struct {
		name   string
		fault  Fault
		status int
		ctype  string
		header [2]string
	}{
		{"502 HTML", Fault{Status: 502, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"}, 502, "text/html; charset=utf-8", [2]string{}},
		{"429 Retry-After", Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: `{"title":"Too Many Requests"}`}, 429, "application/json;charset=utf-8", [2]string{"Retry-After", "7"}},
		{"no access_token", Fault{Body: `{"token_type":"bearer","expires_in":7200}`}, 200, "application/json;charset=utf-8", [2]string{}},
		{"token_type mac", Fault{Body: `{"token_type":"mac","expires_in":7200,"access_token":"x"}`}, 200, "application/json;charset=utf-8", [2]string{}},
		{"expires_in missing", Fault{Body: `{"token_type":"bearer","access_token":"x"}`}, 200, "application/json;charset=utf-8", [2]string{}},
		{"expires_in 0", Fault{Body: `{"token_type":"bearer","expires_in":0,"access_token":"x"}`}, 200, "application/json;charset=utf-8", [2]string{}},
		{"expires_in -5", Fault{Body: `{"token_type":"bearer","expires_in":-5,"access_token":"x"}`}, 200, "application/json;charset=utf-8", [2]string{}},
		{"own Content-Type", Fault{Status: 500, Header: http.Header{"Content-Type": {"text/plain"}}, Body: "{oops"}, 500, "text/plain", [2]string{}},
		{"503 empty", Fault{Status: 503}, 503, "", [2]string{}},
		{"2 MB", Fault{Body: `{"access_token":"` + strings.Repeat("a", 2<<20) + `"}`}, 200, "application/json;charset=utf-8", [2]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.ResetRequests()
			tj := login(t, s, defaultScope)
			s.InjectTokenFault(c.fault)
			r := post(t, s.TokenURL(), refreshForm(publicID, tj.RefreshToken), "", "")
			if r.status != c.status || r.body != c.fault.Body || r.header.Get("Content-Type") != c.ctype {
				t.Fatalf("got %d %q %.80q", r.status, r.header.Get("Content-Type"), r.body)
			}
			if c.header[0] != "" && r.header.Get(c.header[0]) != c.header[1] {
				t.Fatalf("header %s = %q", c.header[0], r.header.Get(c.header[0]))
			}
			// The faulted request did nothing: the refresh token still works.
			decodeToken(t, post(t, s.TokenURL(), refreshForm(publicID, tj.RefreshToken), "", ""))
			reqs := s.Requests()
			if len(reqs) != 3 || reqs[1].Fault == nil || reqs[1].Status != c.status || reqs[2].Fault != nil {
				t.Fatalf("recorded %+v", reqs)
			}
		})
	}
}

// Faults are used once each, in the order queued.
func TestFaultQueue(t *testing.T) {
	s := start(t, Options{})
	s.InjectTokenFault(Fault{Status: 503})
	s.InjectTokenFault(Fault{Status: 502})
	if n := s.PendingFaults(TokenPath); n != 2 {
		t.Fatalf("PendingFaults = %d", n)
	}
	_, rt := s.IssueTokens(publicID, defaultScope)
	for _, want := range []int{503, 502, 200} {
		if r := post(t, s.TokenURL(), refreshForm(publicID, rt), "", ""); r.status != want {
			t.Fatalf("got %d, want %d", r.status, want)
		}
	}
	if s.PendingFaults(TokenPath) != 0 {
		t.Fatal("faults left")
	}
}

func TestFaultOnOtherEndpoints(t *testing.T) {
	s := start(t, Options{})
	access, refresh := s.IssueTokens(publicID, defaultScope)
	s.InjectFault(UsersMePath, Fault{Status: 503, Body: `{"title":"Service Unavailable"}`})
	if r := usersMe(t, s, access); r.status != 503 {
		t.Fatalf("users/me: %d", r.status)
	}
	if r := usersMe(t, s, access); r.status != 200 {
		t.Fatalf("users/me after the fault: %d", r.status)
	}
	s.InjectFault(RevokePath, Fault{Status: 500})
	if r := post(t, s.RevokeURL(), url.Values{"token": {refresh}, "client_id": {publicID}}, "", ""); r.status != 500 {
		t.Fatalf("revoke: %d", r.status)
	}
	if !s.IsValidRefreshToken(refresh) {
		t.Fatal("a faulted revoke revoked")
	}
}

func TestFaultHang(t *testing.T) {
	s := start(t, Options{})
	_, rt := s.IssueTokens(publicID, defaultScope)
	s.InjectTokenFault(Fault{Hang: true})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	startT := time.Now()
	_, err := client.PostForm(s.TokenURL(), refreshForm(publicID, rt))
	if err == nil || !strings.Contains(err.Error(), "Client.Timeout") {
		t.Fatalf("err = %v, want a client timeout", err)
	}
	if time.Since(startT) > 5*time.Second {
		t.Fatal("took too long")
	}
	// The server sees the client go and records no answer.
	waitFor(t, func() bool { r := s.Requests(); return len(r) == 1 && r[0].Fault != nil })
	if st := s.Requests()[0].Status; st != 0 {
		t.Fatalf("Status %d, want 0", st)
	}
	if !s.IsValidRefreshToken(rt) {
		t.Fatal("a hung request used the refresh token")
	}
}

func TestFaultHangReleasedByClose(t *testing.T) {
	s := NewServer(Options{Clients: []Client{{ID: publicID, RedirectURIs: []string{redirect}}}})
	s.InjectTokenFault(Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		resp, err := http.PostForm(s.TokenURL(), refreshForm(publicID, "x"))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool { return s.Count(TokenPath) == 1 })
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hung request")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a hung request was answered")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client never got an error")
	}
}

func TestFaultDropAfterProcessingRotates(t *testing.T) {
	s := start(t, Options{})
	tj := login(t, s, defaultScope)
	s.InjectTokenFault(Fault{DropAfterProcessing: true})
	resp, err := http.PostForm(s.TokenURL(), refreshForm(publicID, tj.RefreshToken))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want a lost response", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("err = %v", err)
	}
	// The refresh happened: the old refresh token is dead.
	wantBody(t, post(t, s.TokenURL(), refreshForm(publicID, tj.RefreshToken), "", ""), 400, invalidJSON)
	if n := s.CountGrant("refresh_token"); n != 2 {
		t.Fatalf("CountGrant = %d, want 2 (no transport retry)", n)
	}
	reqs := s.Requests()
	if reqs[1].Status != 0 || reqs[1].Fault == nil || !reqs[1].Fault.DropAfterProcessing {
		t.Fatalf("recorded %+v", reqs[1])
	}
	// A dropped code exchange spends the code.
	c := code(t, s, authParams(publicID))
	s.InjectTokenFault(Fault{DropAfterProcessing: true})
	if resp, err := http.PostForm(s.TokenURL(), exchangeForm(c, rfcVerifier)); err == nil {
		resp.Body.Close()
		t.Fatal("exchange answered")
	}
	wantBody(t, post(t, s.TokenURL(), exchangeForm(c, rfcVerifier), "", ""), 400, invalidJSON)
}

func TestFaultDelay(t *testing.T) {
	s := start(t, Options{})
	_, rt := s.IssueTokens(publicID, defaultScope)
	s.InjectTokenFault(Fault{Delay: 150 * time.Millisecond})
	startT := time.Now()
	decodeToken(t, post(t, s.TokenURL(), refreshForm(publicID, rt), "", ""))
	if d := time.Since(startT); d < 150*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	s.InjectTokenFault(Fault{Delay: 100 * time.Millisecond, Status: 504})
	if r := post(t, s.TokenURL(), refreshForm(publicID, rt), "", ""); r.status != 504 {
		t.Fatalf("delayed fault: %d", r.status)
	}
	// A client that gives up during the delay gets no answer and uses nothing.
	s.InjectTokenFault(Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL(), strings.NewReader(refreshForm(publicID, "x").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("answered during the delay")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
