package cli

import (
	"encoding/json"
	"io"
	"time"

	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
)

// The --json outputs. Their fields are the schema scripts use; the README
// documents them ("JSON output").

// TokenJSON is what token --json and refresh --json print; refresh_token
// only for refresh, whose job is to hand it over.
type TokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresAt    string `json:"expires_at"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

func tokenJSON(e *store.Entry, withRefresh bool) TokenJSON {
	out := TokenJSON{AccessToken: e.AccessToken, TokenType: e.TokenType, ExpiresAt: e.Expiry.UTC().Format(time.RFC3339), Scope: e.Scope}
	if withRefresh {
		out.RefreshToken = e.RefreshToken
	}
	return out
}

// LoginJSON is what login --json and exchange --json print.
type LoginJSON struct {
	ClientID        string `json:"client_id"`
	ClientType      string `json:"client_type"`
	Username        string `json:"username"`
	Config          string `json:"config"`
	TokenKey        string `json:"token_key"`
	RefreshTokenKey string `json:"refresh_token_key"`
	Store           string `json:"store"`
	Scope           string `json:"scope"`
	ExpiresAt       string `json:"expires_at"`
}

// StatusJSON is what status --json prints.
type StatusJSON struct {
	ClientID         string `json:"client_id"`
	ClientType       string `json:"client_type"`
	Config           string `json:"config"`
	TokenKey         string `json:"token_key"`
	ConfigCurrent    bool   `json:"config_current"`
	ConfigState      string `json:"config_state"`
	Store            string `json:"store"`
	Username         string `json:"username"`
	Scope            string `json:"scope"`
	ExpiresAt        string `json:"expires_at"`
	ExpiresInSeconds int64  `json:"expires_in_seconds"`
	Expired          bool   `json:"expired"`
	RefreshTokenHeld bool   `json:"refresh_token_held"`
	TokenURL         string `json:"token_url"`
	Verified         *bool  `json:"verified,omitempty"`
	// Resolved says where each value in force came from.
	Resolved ResolvedJSON `json:"resolved"`
}

// ResolvedJSON is the resolution of a command (docs/design.md,
// "Resolution"): each value with its origin. Secrets show only whether
// one is set and where from.
type ResolvedJSON struct {
	ClientID        resolve.Setting `json:"client_id"`
	Account         resolve.Setting `json:"account"`
	ClientSecret    SecretJSON      `json:"client_secret"`
	Config          resolve.Setting `json:"config"`
	TokenKey        resolve.Setting `json:"token_key"`
	RefreshTokenKey resolve.Setting `json:"refresh_token_key"`
	TokenURL        resolve.Setting `json:"token_url"`
	Store           string          `json:"store"`
	SecretNote      string          `json:"secret_note"`
	Conflict        string          `json:"conflict"`
}

// SecretJSON says whether a secret is set, never what it is.
type SecretJSON struct {
	Set  bool   `json:"set"`
	From string `json:"from"`
}

func resolvedJSON(t *resolve.Target) ResolvedJSON {
	r := ResolvedJSON{
		ClientID:        t.ClientID,
		Account:         t.Account,
		ClientSecret:    SecretJSON{Set: t.ClientSecret.Value != "", From: t.ClientSecret.From},
		Config:          resolve.Setting{Value: t.ConfigPath, From: t.ConfigWhy},
		TokenKey:        t.TokenKey,
		RefreshTokenKey: t.RefreshTokenKey,
		TokenURL:        t.TokenURL,
		Store:           t.StorePath,
		SecretNote:      t.SecretNote,
	}
	if r.TokenURL.Value == "" {
		r.TokenURL = resolve.Setting{Value: "https://api.x.com/2/oauth2/token", From: "default"}
	}
	if t.Conflict != nil {
		r.Conflict = t.Conflict.Error()
	}
	return r
}

// RevokeJSON is what revoke --json prints.
type RevokeJSON struct {
	ClientID           string              `json:"client_id"`
	Revoked            bool                `json:"revoked"`
	Config             string              `json:"config"`
	RemovedKeys        []string            `json:"removed_keys"`
	BlankedKeys        []string            `json:"blanked_keys"`
	KeptKeys           []string            `json:"kept_keys"`
	RemovedEarlierKeys map[string][]string `json:"removed_earlier_keys"`
	Store              string              `json:"store"`
}

// URLJSON is what url --json prints.
type URLJSON struct {
	URL         string `json:"url"`
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	Scope       string `json:"scope"`
	ExpiresAt   string `json:"expires_at"`
}

// PKCEJSON is what pkce --json prints.
type PKCEJSON struct {
	Verifier  string `json:"verifier"`
	Challenge string `json:"challenge"`
	Method    string `json:"method"`
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
