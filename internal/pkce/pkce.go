// Package pkce makes the code verifier and code challenge of Proof Key for
// Code Exchange (RFC 7636), which X requires on every authorization request.
package pkce

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Method is a code_challenge_method (RFC 7636 section 4.2).
type Method string

// The two methods of RFC 7636. S256 is the default everywhere in twauth;
// Plain sends the verifier itself as the challenge and is used only when
// asked for.
const (
	S256  Method = "S256"
	Plain Method = "plain"
)

// Lengths allowed for a verifier (RFC 7636 section 4.1).
const (
	MinLength     = 43
	MaxLength     = 128
	DefaultLength = 64
)

// unreserved is the verifier alphabet of RFC 7636 section 4.1:
// ALPHA / DIGIT / "-" / "." / "_" / "~". Its 66 characters.
const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// ParseMethod returns the Method named by s. The empty string means S256.
// Matching is exact apart from the case of "s256", which people type.
func ParseMethod(s string) (Method, error) {
	switch {
	case s == "" || strings.EqualFold(s, string(S256)):
		return S256, nil
	case s == string(Plain):
		return Plain, nil
	}
	return "", fmt.Errorf("unknown PKCE method %q: use S256 (the default) or plain", s)
}

// Pair is a verifier with its challenge.
type Pair struct {
	Verifier  string
	Challenge string
	Method    Method
}

// New returns a fresh verifier of the given length, drawn from crypto/rand
// without modulo bias, with its challenge. A length of 0 means DefaultLength.
func New(method Method, length int) (Pair, error) {
	if length == 0 {
		length = DefaultLength
	}
	if length < MinLength || length > MaxLength {
		return Pair{}, fmt.Errorf("verifier length %d is out of range: RFC 7636 allows %d to %d characters", length, MinLength, MaxLength)
	}
	if method != S256 && method != Plain {
		return Pair{}, fmt.Errorf("unknown PKCE method %q: use S256 or plain", method)
	}
	v, err := verifier(length)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Verifier: v, Challenge: Challenge(v, method), Method: method}, nil
}

func verifier(length int) (string, error) {
	out := make([]byte, 0, length)
	// 256 - 256%66 = 198: bytes at or above it are dropped so that every
	// character of the alphabet is equally likely.
	const limit = 256 - 256%len(unreserved)
	buf := make([]byte, length+length/2)
	for len(out) < length {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, unreserved[int(b)%len(unreserved)])
			if len(out) == length {
				break
			}
		}
	}
	return string(out), nil
}

// Challenge derives the code_challenge of verifier: for S256
// BASE64URL(SHA256(verifier)) without padding, for Plain the verifier itself
// (RFC 7636 section 4.2).
func Challenge(verifier string, method Method) string {
	if method == Plain {
		return verifier
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ValidVerifier reports whether v is a well-formed verifier: 43 to 128
// characters of the unreserved alphabet.
func ValidVerifier(v string) bool {
	if len(v) < MinLength || len(v) > MaxLength {
		return false
	}
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(unreserved, v[i]) < 0 {
			return false
		}
	}
	return true
}

// State returns a fresh OAuth state value: 32 bytes from crypto/rand,
// base64url-encoded without padding (43 characters).
func State() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
