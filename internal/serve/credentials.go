package serve

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// LocalPrefix starts every value Issue creates, so that a local client id,
// secret or refresh-token handle can be told from X's own: a caller about to
// send a client secret to X can refuse one for which IsLocal is true.
const LocalPrefix = "twauth-local-"

// Credentials is what twauth keeps of the local credentials a program uses
// against the token endpoint: the client id, and SHA-256 hashes (lower-case
// hex) of the client secret and of the refresh-token handle, never the values.
// Plain SHA-256 suffices: the values are 256-bit random strings, not
// passwords. The zero value verifies nothing.
type Credentials struct {
	ClientID           string `json:"client_id"`
	ClientSecretSHA256 string `json:"client_secret_sha256"`
	RefreshTokenSHA256 string `json:"refresh_token_sha256"`
}

// Secrets holds the cleartext of freshly issued credentials, once, for
// writing into the program's Config.toml. It prints as redacted with the fmt
// verbs, so a stray log call cannot leak it; read the fields explicitly.
type Secrets struct {
	ClientID     string
	ClientSecret string
	RefreshToken string // the handle the program sends as its refresh token
}

// String redacts the secrets.
func (s Secrets) String() string { return "serve.Secrets{redacted}" }

// GoString redacts the secrets from %#v.
func (s Secrets) GoString() string { return s.String() }

// Issue creates new local credentials: a client id, a client secret and a
// refresh-token handle, each LocalPrefix, a kind ("id-", "cs-", "rt-") and
// random bytes from crypto/rand in base64url (12 bytes for the id, which is
// not secret, 32 for the others). It returns the hashes to keep and the
// cleartext to hand to the program.
func Issue() (Credentials, Secrets, error) {
	var s Secrets
	for _, f := range []struct {
		dst  *string
		kind string
		n    int
	}{{&s.ClientID, "id-", 12}, {&s.ClientSecret, "cs-", 32}, {&s.RefreshToken, "rt-", 32}} {
		b := make([]byte, f.n)
		if _, err := rand.Read(b); err != nil {
			return Credentials{}, Secrets{}, fmt.Errorf("issue local credentials: %w", err)
		}
		*f.dst = LocalPrefix + f.kind + base64.RawURLEncoding.EncodeToString(b)
	}
	return NewCredentials(s.ClientID, s.ClientSecret, s.RefreshToken), s, nil
}

// IsLocal reports whether v has the form of a value Issue created.
func IsLocal(v string) bool { return strings.HasPrefix(v, LocalPrefix) }

// NewCredentials returns the Credentials that verify the given values.
func NewCredentials(clientID, clientSecret, refreshToken string) Credentials {
	return Credentials{ClientID: clientID, ClientSecretSHA256: hash(clientSecret), RefreshTokenSHA256: hash(refreshToken)}
}

// Validate reports whether c can verify anything: a client id and two
// well-formed hashes. Credentials read back from storage should pass it.
func (c Credentials) Validate() error {
	var bad []string
	if c.ClientID == "" {
		bad = append(bad, "client_id is empty")
	}
	for _, f := range [...]struct{ name, hash string }{
		{"client_secret_sha256", c.ClientSecretSHA256},
		{"refresh_token_sha256", c.RefreshTokenSHA256},
	} {
		if _, err := hex.DecodeString(f.hash); err != nil || len(f.hash) != 2*sha256.Size || strings.ToLower(f.hash) != f.hash {
			bad = append(bad, f.name+" is not 64 lower-case hex digits")
		}
	}
	if bad != nil {
		return errors.New("local credentials: " + strings.Join(bad, "; "))
	}
	return nil
}

// VerifyClient reports whether id and secret are the local client's, in time
// independent of where they differ.
func (c Credentials) VerifyClient(id, secret string) bool {
	okID := subtle.ConstantTimeCompare([]byte(id), []byte(c.ClientID))
	okSecret := subtle.ConstantTimeCompare([]byte(hash(secret)), []byte(c.ClientSecretSHA256))
	return okID&okSecret == 1 && c.ClientID != ""
}

// VerifyRefreshToken reports whether handle is the local refresh-token
// handle, in constant time.
func (c Credentials) VerifyRefreshToken(handle string) bool {
	return subtle.ConstantTimeCompare([]byte(hash(handle)), []byte(c.RefreshTokenSHA256)) == 1
}

func hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}
