package cli

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/resolve"
)

var sprintf = fmt.Sprintf

func peekKey(path, key string) (string, bool, bool, error) {
	d, exists, err := balconfig.Load(path)
	if err != nil || !exists {
		return "", false, exists, err
	}
	v, found, err := d.Get(key)
	return v, found, true, err
}

// checkEndpoints refuses cleartext endpoints on hosts other than loopback
// (RFC 6749 sections 3.1 and 3.2 require TLS).
func checkEndpoints(t *resolve.Target) error {
	for _, s := range []resolve.Setting{t.AuthURL, t.TokenURL, t.RevokeURL, t.APIURL} {
		if s.Value == "" {
			continue
		}
		u, err := url.Parse(s.Value)
		if err != nil || u.Host == "" {
			return &usageError{fmt.Sprintf("%s %q is not an absolute URL", s.From, s.Value)}
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
		case "http":
			h := strings.ToLower(u.Hostname())
			ip := net.ParseIP(h)
			if h != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return &usageError{fmt.Sprintf("%s %s sends credentials in cleartext to a host that is not loopback: use https:// (RFC 6749 requires TLS)", s.From, s.Value)}
			}
		default:
			return &usageError{fmt.Sprintf("%s %q: want an https:// URL", s.From, s.Value)}
		}
	}
	return nil
}
