package serve

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestIssue(t *testing.T) {
	c, s, err := Issue()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		v, prefix string
		bytes     int
	}{{s.ClientID, "twauth-local-id-", 12}, {s.ClientSecret, "twauth-local-cs-", 32}, {s.RefreshToken, "twauth-local-rt-", 32}} {
		raw, ok := strings.CutPrefix(f.v, f.prefix)
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if !ok || err != nil || len(b) != f.bytes || !IsLocal(f.v) {
			t.Errorf("%q is not %s and %d bytes in base64url (%v)", f.v, f.prefix, f.bytes, err)
		}
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if c != NewCredentials(s.ClientID, s.ClientSecret, s.RefreshToken) {
		t.Error("Issue's credentials are not those of its secrets")
	}
	if !c.VerifyClient(s.ClientID, s.ClientSecret) || !c.VerifyRefreshToken(s.RefreshToken) {
		t.Error("the issued values do not verify")
	}
	c2, s2, _ := Issue()
	if s2.ClientID == s.ClientID || s2.ClientSecret == s.ClientSecret || s2.RefreshToken == s.RefreshToken || c2 == c {
		t.Error("two Issue calls gave the same values")
	}
	if IsLocal("x-client-secret") {
		t.Error("IsLocal took an X secret for a local one")
	}
}

func TestCredentialsJSONHoldsOnlyHashes(t *testing.T) {
	c := NewCredentials("twauth-local-id-a", "the-secret", "the-handle")
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	// The hashes as `printf the-secret | sha256sum` prints them.
	want := `{"client_id":"twauth-local-id-a",` +
		`"client_secret_sha256":"5a90063288c04e4df59164f25bacb191f42f8f7e11b127030cb01fffd22af956",` +
		`"refresh_token_sha256":"37a15ef2c23525da396bf06c238f4bd6b9298686a8f7ee94edf7808eca6a4a28"}`
	if string(b) != want {
		t.Errorf("%s\nwant %s", b, want)
	}
	var back Credentials
	if err := json.Unmarshal(b, &back); err != nil || back != c || back.Validate() != nil {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestVerify(t *testing.T) {
	c := NewCredentials("id", "secret", "handle")
	for _, tc := range []struct {
		id, secret string
		want       bool
	}{
		{"id", "secret", true},
		{"id", "secret ", false},
		{"id", "Secret", false},
		{"id", "", false},
		{"id2", "secret", false},
		{"", "secret", false},
		{"id", "handle", false},
	} {
		if got := c.VerifyClient(tc.id, tc.secret); got != tc.want {
			t.Errorf("VerifyClient(%q, %q) = %v", tc.id, tc.secret, got)
		}
	}
	if !c.VerifyRefreshToken("handle") || c.VerifyRefreshToken("handle2") || c.VerifyRefreshToken("secret") || c.VerifyRefreshToken("") {
		t.Error("VerifyRefreshToken")
	}
	var zero Credentials
	if zero.VerifyClient("", "") || zero.VerifyRefreshToken("") {
		t.Error("the zero Credentials verified something")
	}
}

func TestValidate(t *testing.T) {
	good := NewCredentials("id", "s", "h")
	for _, tc := range []struct {
		c    Credentials
		want string
	}{
		{Credentials{}, "local credentials: client_id is empty; client_secret_sha256 is not 64 lower-case hex digits; refresh_token_sha256 is not 64 lower-case hex digits"},
		{Credentials{ClientID: "id", ClientSecretSHA256: strings.ToUpper(good.ClientSecretSHA256), RefreshTokenSHA256: good.RefreshTokenSHA256}, "local credentials: client_secret_sha256 is not 64 lower-case hex digits"},
		{Credentials{ClientID: "id", ClientSecretSHA256: good.ClientSecretSHA256, RefreshTokenSHA256: "the-handle"}, "local credentials: refresh_token_sha256 is not 64 lower-case hex digits"},
		{Credentials{ClientID: "id", ClientSecretSHA256: good.ClientSecretSHA256, RefreshTokenSHA256: good.RefreshTokenSHA256[:62] + "zz"}, "local credentials: refresh_token_sha256 is not 64 lower-case hex digits"},
	} {
		if err := tc.c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v\nwant %s", tc.c, err, tc.want)
		}
	}
}

func TestSecretsPrintRedacted(t *testing.T) {
	s := Secrets{ClientID: "id-1", ClientSecret: "secret-2", RefreshToken: "handle-3"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, s) + fmt.Sprintf(f, &s) + fmt.Sprintf(f, []Secrets{s})
		if strings.Contains(out, "secret-2") || strings.Contains(out, "handle-3") {
			t.Errorf("%s prints a secret: %s", f, out)
		}
	}
}
