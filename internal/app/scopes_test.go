package app

import (
	"reflect"
	"strings"
	"testing"
)

func TestScopeWarnings(t *testing.T) {
	const noRefresh = "without the offline.access scope X issues no refresh token: the access token dies in 2 hours and twauth cannot renew it"
	unknown := func(s string) string {
		return `scope "` + s + `" is not one X documents: X may refuse the login (see twauth login --help)`
	}
	// A near miss names the scope meant (issue 17, item 11).
	near := func(s, meant string) string {
		return `scope "` + s + `" is not one X documents: X may refuse the login (did you mean ` + meant + `?) (see twauth login --help)`
	}
	tests := []struct {
		authURL, scopes string
		want            []string
	}{
		{"", "tweet.read users.read offline.access", nil},
		{"https://x.com/i/oauth2/authorize", "tweet.read offline.access", nil},
		{"", "tweet.read", []string{noRefresh}},
		{"", "tweet.read tweets.read offline.access", []string{near("tweets.read", "tweet.read")}},
		{"https://twitter.com/i/oauth2/authorize", "openid offline_access", []string{unknown("openid"), near("offline_access", "offline.access")}},
		// Another server's scope names are its own business; its refresh
		// scope may be OpenID Connect's.
		{"http://127.0.0.1:9000/authorize", "openid profile offline_access", nil},
		{"http://127.0.0.1:9000/authorize", "openid", []string{noRefresh}},
		// Scopes X's API metadata lists beyond its OAuth guide.
		{"", "timeline.read broadcast.read broadcast.write offline.access", nil},
	}
	for _, tt := range tests {
		got := scopeWarnings(tt.authURL, strings.Fields(tt.scopes))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("scopeWarnings(%q, %q) = %q, want %q", tt.authURL, tt.scopes, got, tt.want)
		}
	}
}
