package cli

import (
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/resolve"
)

// checkEndpoints refuses endpoints that would send credentials in
// cleartext to a host other than loopback (RFC 6749 sections 3.1, 3.2).
func checkEndpoints(t *resolve.Target) error {
	for _, s := range []resolve.Setting{t.AuthURL, t.TokenURL, t.RevokeURL, t.APIURL} {
		if s.Value == "" {
			continue
		}
		if err := oauth.CheckEndpoint(s.From, s.Value); err != nil {
			return err
		}
	}
	return nil
}
