package app

import (
	"fmt"

	"github.com/twauth/twauth/internal/pkce"
)

// PKCE is `twauth pkce`: a fresh verifier and its challenge, for people who
// follow X's setup guide by hand.
func (a *App) PKCE(method pkce.Method, length int) error {
	p, err := pkce.New(method, length)
	if err != nil {
		return usagef("%v", err)
	}
	if method == pkce.Plain {
		a.warn("with plain the challenge is the verifier itself: use S256 unless the server cannot")
	}
	if a.s.JSON {
		return a.printJSON(map[string]string{"verifier": p.Verifier, "challenge": p.Challenge, "method": string(p.Method)})
	}
	_, err = fmt.Fprintf(a.env.Stdout, "code_verifier=%s\ncode_challenge=%s\ncode_challenge_method=%s\n", p.Verifier, p.Challenge, p.Method)
	return err
}
