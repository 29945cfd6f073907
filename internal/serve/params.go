package serve

import (
	"net/url"
	"strings"
)

// knownParams are the body parameters a refresh-token grant uses; any other
// is ignored (ballerina/oauth2 appends its optionalParams as "&k=v").
var knownParams = map[string]bool{
	"grant_type": true, "refresh_token": true, "scope": true, "client_id": true, "client_secret": true,
}

// parseParams splits a token request body on '&' and each field on its first
// '=', keeping the known parameters' values raw. ballerina/oauth2 builds the
// body by string concatenation, not form-encoding, so a value may hold a raw
// '+', '%' or space; anyForm decides what a value means. dup names a known
// parameter sent twice, which RFC 6749 section 3.2 forbids.
func parseParams(body string) (p map[string]string, dup string) {
	p = make(map[string]string, len(knownParams))
	for field := range strings.SplitSeq(body, "&") {
		k, v, _ := strings.Cut(field, "=")
		k = decoded(k)
		if !knownParams[k] {
			continue
		}
		if _, ok := p[k]; ok {
			return nil, k
		}
		p[k] = v
	}
	return p, ""
}

// decoded is s form-decoded, or s itself when it is not valid form-encoding.
func decoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// anyForm reports whether ok holds for raw as sent (ballerina/oauth2), or
// for its decoding as a form value ('+' is a space; golang.org/x/oauth2 and
// most clients) or as a URL path ('+' is a '+'), where these are valid.
// The forms tried depend only on raw, never on the value compared with.
func anyForm(raw string, ok func(string) bool) bool {
	match := ok(raw)
	if d, err := url.QueryUnescape(raw); err == nil && d != raw {
		match = ok(d) || match
	}
	if d, err := url.PathUnescape(raw); err == nil && d != raw {
		match = ok(d) || match
	}
	return match
}
