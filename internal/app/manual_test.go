package app

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/twauth/twauth/internal/loopback"
)

func TestParsePasted(t *testing.T) {
	tests := []struct {
		in        string
		want      pasted
		wantExit  int    // 0: no error
		wantInErr string // part of the message
	}{
		{in: "http://127.0.0.1:8080/callback?state=S1&code=C1", want: pasted{Code: "C1", State: "S1", HasState: true}},
		{in: "  http://localhost:8080/callback?code=C%2B1&state=S%201\r\n", want: pasted{Code: "C+1", State: "S 1", HasState: true}},
		{in: "?code=C1&state=S1", want: pasted{Code: "C1", State: "S1", HasState: true}},
		{in: "code=C1&state=S1", want: pasted{Code: "C1", State: "S1", HasState: true}},
		{in: "code=C1", want: pasted{Code: "C1"}},
		{in: "https://example.com/cb#code=C1&state=S1", want: pasted{Code: "C1", State: "S1", HasState: true}},
		{in: "bXlfY29kZV8xMjM0NTY3ODk6MTc2NDYxMjAwMDAwMDoxOmFjOjE", want: pasted{Code: "bXlfY29kZV8xMjM0NTY3ODk6MTc2NDYxMjAwMDAwMDoxOmFjOjE"}},
		{in: "", wantExit: 2, wantInErr: "nothing was pasted"},
		{in: "   \n", wantExit: 2, wantInErr: "nothing was pasted"},
		{in: "two words", wantExit: 2, wantInErr: "neither a URL nor a code"},
		{in: "http://127.0.0.1:8080/callback?state=S1", wantExit: 2, wantInErr: "no code parameter"},
		{in: "https://x.com/i/oauth2/authorize?response_type=code&client_id=abc", wantExit: 2, wantInErr: "not the authorization URL"},
		{in: "http://127.0.0.1:8080/callback?code=A&code=B&state=S", wantExit: 2, wantInErr: "repeats the code parameter"},
		{in: "http://127.0.0.1:8080/callback?code=%zz&state=S", wantExit: 2, wantInErr: "malformed"},
		{in: "http://127.0.0.1:8080/callback?state=S&error=access_denied&error_description=nope", wantExit: 3, wantInErr: "denied"},
	}
	for _, tt := range tests {
		got, err := parsePasted(tt.in)
		if tt.wantExit == 0 {
			if err != nil {
				t.Errorf("parsePasted(%q): %v", tt.in, err)
			} else if got != tt.want {
				t.Errorf("parsePasted(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("parsePasted(%q) = %+v, want an error", tt.in, got)
			continue
		}
		// The command line maps a UsageError to exit 2 and an
		// AuthorizationError to 3 (internal/cli/exit.go).
		var ue *UsageError
		var ae *loopback.AuthorizationError
		if got := map[bool]int{true: 2}[errors.As(err, &ue)] + map[bool]int{true: 3}[errors.As(err, &ae)]; got != tt.wantExit {
			t.Errorf("parsePasted(%q): error %q (%T) maps to exit code %d, want %d", tt.in, err, err, got, tt.wantExit)
		}
		if !strings.Contains(err.Error(), tt.wantInErr) {
			t.Errorf("parsePasted(%q): error %q does not say %q", tt.in, err, tt.wantInErr)
		}
	}
}

// FuzzParsePasted checks that whatever is pasted, parsePasted either
// returns a non-empty code or an error with an exit code from docs/design.md (2 for
// bad input, 3 for an error response), and that any code and state survive
// the trip through a redirect URL exactly.
func FuzzParsePasted(f *testing.F) {
	f.Add("http://127.0.0.1:8080/callback?state=S1&code=C1", "C1", "S1")
	f.Add("code=a b", "a b", "")
	f.Add("?error=access_denied", "x&y=z", "#frag")
	f.Add("https://[::1]:8080/cb#code=1", "%41", "\x00")
	f.Add("\ufeffcode", " c ", "s\r\n")
	f.Fuzz(func(t *testing.T, in, code, state string) {
		got, err := parsePasted(in)
		if err == nil {
			if got.Code == "" {
				t.Fatalf("parsePasted(%q) accepted an empty code", in)
			}
			if !got.HasState && got.State != "" {
				t.Fatalf("parsePasted(%q) has a state but says it has none", in)
			}
		} else {
			// Every refusal is a usage error (exit 2) or, for an error the
			// server sent back, an authorization error (exit 3).
			var ue *UsageError
			var aerr *loopback.AuthorizationError
			if !errors.As(err, &ue) && !errors.As(err, &aerr) {
				t.Fatalf("parsePasted(%q): error %q (%T) is neither a UsageError nor an AuthorizationError", in, err, err)
			}
		}

		if code == "" {
			return
		}
		u := "http://127.0.0.1:8080/callback?" + url.Values{"code": {code}, "state": {state}}.Encode()
		got, err = parsePasted(u)
		if err != nil {
			t.Fatalf("parsePasted(%q): %v", u, err)
		}
		if got.Code != code || got.State != state || !got.HasState {
			t.Fatalf("parsePasted(%q) = %+v, want code %q state %q", u, got, code, state)
		}
	})
}
