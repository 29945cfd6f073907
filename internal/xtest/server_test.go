package xtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// recordingTB records what Start does with its TB.
type recordingTB struct {
	cleanups []func()
	fatal    string
}

func (r *recordingTB) Helper()                           {}
func (r *recordingTB) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestStartClosesInCleanup(t *testing.T) {
	tb := &recordingTB{}
	s := Start(tb, Options{})
	if len(tb.cleanups) != 1 || tb.fatal != "" {
		t.Fatalf("cleanups %d fatal %q", len(tb.cleanups), tb.fatal)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || s.APIURL() != s.URL() ||
		s.AuthURL() != s.URL()+"/i/oauth2/authorize" || s.TokenURL() != s.URL()+"/2/oauth2/token" ||
		s.RevokeURL() != s.URL()+"/2/oauth2/revoke" {
		t.Fatalf("URLs %s %s %s %s", s.URL(), s.AuthURL(), s.TokenURL(), s.RevokeURL())
	}
	resp, err := s.Client().Get(s.URL() + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tb.cleanups[0]()
	if _, err := http.Get(s.URL()); err == nil {
		t.Fatal("server still serving after cleanup")
	}
	s.Close() // twice is fine
}

func TestClockAndScopes(t *testing.T) {
	c := NewClock(t0)
	f := New(Options{Now: c.Now})
	if !f.Now().Equal(t0) || !c.Advance(time.Minute).Equal(t0.Add(time.Minute)) || !f.Now().Equal(t0.Add(time.Minute)) {
		t.Fatal("clock")
	}
	if New(Options{}).Now().IsZero() {
		t.Fatal("default clock")
	}
	s := KnownScopes()
	if len(s) != 22 || !slices.Contains(s, "offline.access") || !slices.Contains(s, "media.write") {
		t.Fatalf("KnownScopes() = %v", s)
	}
	s[0] = "changed"
	if KnownScopes()[0] == "changed" {
		t.Fatal("KnownScopes shares its slice")
	}
}
