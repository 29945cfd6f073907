package cli

import (
	"context"
	"errors"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/atomicfile"
	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/loopback"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
)

// Exit codes (docs/design.md, "Exit codes").
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitAuth        = 3
	ExitLoginNeeded = 4
	ExitInterrupted = 130
)

// usageError is a usage error found by the command line itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// cobraError is a usage error found by cobra or pflag.
type cobraError struct{ err error }

func (e *cobraError) Error() string { return e.err.Error() }
func (e *cobraError) Unwrap() error { return e.err }

// Explain is the one place that turns an error into an exit code and the
// line the user reads: the error's own text, plus what to do about it.
// Lower packages return typed errors and never name a command or a flag;
// the hints that do are here.
func Explain(err error, ctx context.Context) (int, string) {
	code, hint := classify(err, ctx)
	msg := err.Error()
	if code == ExitInterrupted {
		return code, "interrupted; nothing was saved"
	}
	var ce *cobraError
	switch {
	case errors.As(err, &ce):
		msg += "\nRun 'twauth --help' for usage."
	case hint != "":
		msg += ": " + hint
	}
	return code, msg
}

func classify(err error, ctx context.Context) (int, string) {
	var (
		cobraE    *cobraError
		usage     *usageError
		appUsage  *app.UsageError
		cfg       *balconfig.Error
		corrupt   *store.CorruptError
		noPend    *store.NoPendingError
		mismatch  *store.StateMismatchError
		stateE    *app.StateError
		redirect  *loopback.RedirectURIError
		ports     *loopback.PortsInUseError
		authz     *loopback.AuthorizationError
		timeout   *app.TimeoutError
		noClient  *resolve.NoClientError
		conflict  *resolve.ConflictError
		clash     *resolve.KeyClashError
		server    *oauth.ServerError
		api       *oauth.APIError
		lost      *oauth.LostResponseError
		login     *oauth.LoginNeededError
		noRT      *store.NoRefreshTokenError
		seed      *app.SeedRejectedError
		nothing   *app.NothingStoredError
		expired   *app.ExpiredError
		secret    *app.SecretNeededError
		notWrit   *app.ConfigNotWrittenError
		saveE     *store.SaveError
		lockT     *atomicfile.LockTimeoutError
		urlMis    *app.TokenURLMismatchError
		noRoom    *store.NoRoomError
		noDefault *store.NoDefaultPathError
		stopped   *app.RevokeStoppedError
	)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ExitInterrupted, ""
	case errors.As(err, &cobraE):
		return ExitUsage, ""
	case errors.As(err, &stopped):
		code, _ := classify(stopped.Err, ctx)
		return code, "run twauth revoke again"
	case errors.As(err, &seed):
		return ExitLoginNeeded, "the refresh token from --refresh-token or TWAUTH_REFRESH_TOKEN was already used (X rotates it on every refresh: save the refresh_token that every twauth refresh --json prints, as the README's CI recipe does), revoked, or is another app's." +
			" Seed a new one: twauth login where a browser can open, then twauth refresh --json | jq -r .refresh_token"
	case errors.As(err, &notWrit):
		// The tokens are safe in the store; the code is the cause's (an
		// invalid Config.toml is a configuration error, a lock a failure).
		code, _ := classify(notWrit.Err, ctx)
		if notWrit.HasRefreshToken {
			return code, "once it can be written, twauth refresh writes it"
		}
		return code, "once it can be written, run twauth login again (no refresh token was issued)"
	case errors.As(err, &saveE):
		return ExitFailure, "unless it reached Config.toml or --json output, run twauth login"
	case errors.As(err, &conflict):
		return ExitUsage, "pass --config with the Config.toml of " + conflict.ClientID + ", or --client-id " + conflict.ConfigClientID + " to act for the file's app"
	case errors.As(err, &clash):
		return ExitUsage, "pick another --token-key / --refresh-token-key"
	case errors.As(err, &noClient):
		switch {
		case len(noClient.Several) > 0:
			return ExitUsage, "pick one with --client-id or TWAUTH_CLIENT_ID"
		case noClient.Use == resolve.ExistingLogin:
			return ExitLoginNeeded, "run twauth login"
		}
		return ExitUsage, "pass --client-id, set TWAUTH_CLIENT_ID, or add " + noClient.ClientIDKey + " to " + noClient.ConfigPath + " (the OAuth 2.0 Client ID from the X developer portal, Keys and tokens)"
	case errors.As(err, &secret):
		return ExitUsage, "set TWAUTH_CLIENT_SECRET or " + secret.SecretKey + " in " + secret.ConfigPath
	case errors.As(err, &urlMis):
		return ExitUsage, "run twauth url again with the token endpoint you mean (--token-url)"
	case errors.As(err, &noPend):
		switch {
		case noPend.Used:
			return ExitUsage, "run twauth url again, then twauth exchange with the new redirect URL"
		case noPend.Expired:
			return ExitUsage, "run twauth url again, then twauth exchange within 10 minutes"
		}
		return ExitUsage, "run twauth url first (or twauth login), then twauth exchange with the redirect URL"
	case errors.As(err, &mismatch):
		return ExitAuth, "run twauth url again and use the redirect of that login"
	case errors.As(err, &corrupt):
		return ExitUsage, "move it aside (its refresh tokens may still be copied out by hand) and run twauth login"
	case errors.As(err, &noDefault):
		return ExitUsage, "pass --store"
	case errors.As(err, &stateE):
		return ExitAuth, "run twauth login --manual again and paste the redirect of that login"
	case errors.As(err, &timeout):
		switch {
		case timeout.Stdin:
			return ExitAuth, "run twauth login again; paste the redirect URL sooner"
		case timeout.TunnelShown:
			return ExitAuth, "run twauth login again; on a machine without a browser, try --manual or the SSH tunnel above"
		case timeout.NoBrowser:
			return ExitAuth, "run twauth login again; on a machine without a browser, use twauth login --manual and paste the redirect URL"
		}
		return ExitAuth, "run twauth login again (--timeout waits longer)"
	case errors.As(err, &noRT):
		if noRT.Stored {
			return ExitLoginNeeded, "log in with the offline.access scope to get one: run twauth login"
		}
		return ExitLoginNeeded, "run twauth login"
	case errors.As(err, &login):
		return ExitLoginNeeded, "run twauth login"
	case errors.As(err, &nothing):
		return ExitLoginNeeded, "there is nothing to revoke (already revoked, or logged in with another --store)"
	case errors.As(err, &expired):
		return ExitLoginNeeded, "run twauth token or twauth refresh to renew it, or run twauth login"
	case errors.As(err, &lost):
		return ExitFailure, ""
	case errors.As(err, &server):
		return server.ExitCode(), ""
	case errors.As(err, &api):
		return api.ExitCode(), ""
	case errors.As(err, &lockT), errors.As(err, &noRoom):
		return ExitFailure, ""
	case errors.As(err, &usage), errors.As(err, &appUsage), errors.As(err, &cfg),
		errors.As(err, &redirect), errors.As(err, &ports):
		return ExitUsage, ""
	case errors.As(err, &authz):
		return ExitAuth, ""
	}
	return ExitFailure, ""
}
