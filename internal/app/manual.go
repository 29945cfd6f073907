package app

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/twauth/twauth/internal/loopback"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/termtext"
)

// MaxPasted bounds a pasted redirect URL or code.
const MaxPasted = 64 << 10

// pasted is what the user pasted after approving in a browser.
type pasted struct {
	Code     string
	State    string
	HasState bool // false for a bare code: the state cannot be checked
	// Iss is the iss parameter, when the server sent one (RFC 9207).
	Iss string
}

// parsePasted reads a redirect URL, its query string, or a bare code. An
// error response in it becomes *loopback.AuthorizationError.
func parsePasted(in string) (pasted, error) {
	if len(in) > MaxPasted {
		return pasted{}, usagef("the pasted text is longer than %d KiB: paste only the redirect URL", MaxPasted>>10)
	}
	in = strings.TrimSpace(in)
	if in == "" {
		return pasted{}, usagef("nothing was pasted: paste the whole URL from the browser's address bar after approving")
	}
	var rawQuery string
	switch {
	case strings.Contains(in, "://"):
		u, err := url.Parse(in)
		if err != nil {
			return pasted{}, usagef("the pasted URL cannot be parsed (%v): paste it whole, from the address bar", err)
		}
		rawQuery = u.RawQuery
		if rawQuery == "" && strings.Contains(u.Fragment, "=") {
			rawQuery = u.Fragment
		}
	case strings.HasPrefix(in, "?") || strings.Contains(in, "="):
		rawQuery = strings.TrimPrefix(in, "?")
	default:
		if strings.ContainsAny(in, " \t&?#/") {
			return pasted{}, usagef("the pasted text is neither a URL nor a code: paste the whole URL from the browser's address bar")
		}
		return pasted{Code: in}, nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return pasted{}, usagef("the pasted URL's query string is malformed: paste it whole, from the address bar")
	}
	for _, k := range []string{"code", "state", "error"} {
		if len(q[k]) > 1 {
			return pasted{}, usagef("the pasted URL repeats the %s parameter: paste the URL from the address bar as it is", k)
		}
	}
	if e := q.Get("error"); e != "" {
		return pasted{}, &loopback.AuthorizationError{Code: e, Description: q.Get("error_description")}
	}
	if q.Get("code") == "" {
		return pasted{}, usagef("the pasted URL has no code parameter: paste the URL the browser was sent to after you approved (it starts with the redirect URI), not the authorization URL")
	}
	_, hasState := q["state"]
	return pasted{Code: q.Get("code"), State: q.Get("state"), HasState: hasState, Iss: q.Get("iss")}, nil
}

// loginManual is `login --manual`: no listener; the user pastes the
// redirect URL, which may point anywhere (an https callback, another host).
func (a *Runner) loginManual(ctx context.Context, o LoginOptions, pair pkce.Pair, state string) (*LoggedIn, error) {
	redirect := o.RedirectURIs[0]
	if u, err := url.Parse(redirect); err != nil || !u.IsAbs() || u.Host == "" {
		return nil, usagef("redirect URI %q is not an absolute URL", redirect)
	}
	authURL, err := a.client.AuthorizeURL(oauth.AuthRequest{RedirectURI: redirect, Scopes: o.Scopes, State: state, PKCE: pair})
	if err != nil {
		return nil, usagef("%v", err)
	}
	a.say("Open this URL in any browser and approve:\n\n    %s\n", authURL)
	a.say("The browser is then sent to %s; the page may fail to load, which is expected.", redirect)
	a.say("Copy the whole URL from its address bar and paste it here. X's code expires 30 seconds after you approve.")
	fmt.Fprint(a.d.Stderr, "Redirect URL: ")
	line, err := readLine(ctx, a.d.Stdin, o.Timeout)
	if err != nil {
		if err == context.DeadlineExceeded {
			return nil, &TimeoutError{After: o.Timeout, Where: "stdin", Stdin: true}
		}
		return nil, err
	}
	p, err := parsePasted(line)
	if err != nil {
		return nil, err
	}
	if err := a.checkPastedState(p, state); err != nil {
		return nil, err
	}
	// RFC 9207, as the listener checks it: an iss that is not the issuer
	// given is refused; none is accepted (X sends none).
	if o.Issuer != "" && p.Iss != "" && p.Iss != o.Issuer {
		return nil, &IssuerError{Got: p.Iss, Want: o.Issuer}
	}
	return a.exchangeAndSave(ctx, p.Code, pair.Verifier, redirect)
}

func (a *Runner) checkPastedState(p pasted, state string) error {
	if !p.HasState {
		a.warn("a bare code carries no state, so twauth cannot check that it comes from this login; paste the whole redirect URL when you can")
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) != 1 {
		return &StateError{}
	}
	return nil
}

// IssuerError is a pasted redirect from another authorization server than
// the one given (RFC 9207 mix-up protection).
type IssuerError struct{ Got, Want string }

func (e *IssuerError) Error() string {
	return fmt.Sprintf("the pasted redirect's issuer %q is not %q (RFC 9207 mix-up protection): the code was not sent", termtext.Clip(e.Got, 200), e.Want)
}

// StateError is a pasted redirect whose state is not this login's.
type StateError struct{}

func (e *StateError) Error() string {
	return "the state in the pasted URL does not match this login (a redirect from an older login, or a forged one)"
}

// readLine reads one line from r, giving up when ctx ends or timeout passes.
func readLine(ctx context.Context, r io.Reader, timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		// A redirect URL is a few hundred bytes: a longer line is refused
		// whole rather than held in memory (docs/design.md, "Security
		// rules").
		br := bufio.NewReaderSize(io.LimitReader(r, MaxPasted+1), 16<<10)
		line, err := br.ReadString('\n')
		if len(line) > MaxPasted {
			ch <- result{"", &UsageError{Msg: fmt.Sprintf("the pasted line is longer than %d KiB: paste only the redirect URL", MaxPasted>>10)}}
			return
		}
		if err == io.EOF && line != "" {
			err = nil
		}
		ch <- result{line, err}
	}()
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case res := <-ch:
		if res.err == io.EOF {
			return "", usagef("stdin ended before a redirect URL was pasted")
		}
		var ue *UsageError
		if errors.As(res.err, &ue) {
			return "", res.err
		}
		if res.err != nil {
			return "", fmt.Errorf("read stdin: %w", res.err)
		}
		return res.line, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-timer:
		return "", context.DeadlineExceeded
	}
}
