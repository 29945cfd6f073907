package cli

import (
	"context"
	"errors"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/atomicfile"
	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/etcdstore"
	"github.com/twauth/twauth/internal/keyringstore"
	"github.com/twauth/twauth/internal/loopback"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/serve"
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
	if code == exitOAuth {
		return exitAndHint(err)
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
		account   *resolve.AccountError
		unsafe    *store.UnsafeError
		notConf   *serveNotConfiguredError
		local     *resolve.LocalCredentialError
		sListen   *serve.ListenError
		eURL      *etcdstore.URLError
		eConfig   *etcdstore.ConfigError
		eAuth     *etcdstore.AuthError
		eUnreach  *etcdstore.UnreachableError
		eQuorum   *etcdstore.NoQuorumError
		eLockT    *etcdstore.LockTimeoutError
		eLease    *etcdstore.LeaseLostError
		eConflict *etcdstore.ConflictError
		kUnavail  *keyringstore.UnavailableError
		kLocked   *keyringstore.LockedError
		kBig      *keyringstore.TooBigError
		kItem     *keyringstore.ItemError
		kStray    *keyringstore.StrayItemError
		netE      *oauth.NetworkError
		endpoint  *oauth.EndpointError
		listen    *loopback.ListenError
		stopped   *app.RevokeStoppedError
		meanwhile *app.RefreshedMeanwhileError
		issE      *app.IssuerError
	)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ExitInterrupted, ""
	case errors.As(err, &cobraE):
		return ExitUsage, ""
	case errors.As(err, &meanwhile):
		return ExitFailure, "run twauth revoke again (stop twauth serve or the job that refreshes it first)"
	case errors.As(err, &stopped):
		code := codeOf(stopped.Err, ctx)
		return code, "run twauth revoke again"
	case errors.As(err, &seed):
		return ExitLoginNeeded, "the refresh token from --refresh-token or TWAUTH_REFRESH_TOKEN was already used (X rotates it on every refresh: save the refresh_token that every twauth refresh --json prints, as the README's CI recipe does), revoked, or is another app's." +
			" Seed a new one: twauth login where a browser can open, then twauth refresh --json | jq -jr .refresh_token"
	case errors.As(err, &notWrit):
		// The tokens are safe in the store; the code is the cause's (an
		// invalid Config.toml is a configuration error, a lock a failure).
		code := codeOf(notWrit.Err, ctx)
		if notWrit.HasRefreshToken {
			return code, "once it can be written, twauth refresh writes it"
		}
		return code, "once it can be written, run twauth login again (no refresh token was issued)"
	case errors.As(err, &saveE) && (errors.As(err, &eLease) || errors.As(err, &eConflict)):
		return ExitFailure, "X's answer is kept in etcd's journal: run twauth refresh to recover it"
	case errors.As(err, &saveE) && saveE.Journal != "":
		return ExitFailure, "X's answer is kept in " + saveE.Journal + ": free some space (or fix what failed) and run twauth refresh, which recovers it"
	case errors.As(err, &saveE):
		return ExitFailure, "unless it reached Config.toml or --json output, run twauth login"
	case errors.As(err, &conflict):
		return ExitUsage, "pass --config with the Config.toml of " + conflict.ClientID + ", or --client-id " + conflict.ConfigClientID + " to act for the file's app"
	case errors.As(err, &eURL):
		return ExitUsage, ""
	case errors.As(err, &eConfig):
		return ExitUsage, "TLS and credentials come from ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY, ETCDCTL_USER, ETCDCTL_PASSWORD (or TWAUTH_ETCD_*)"
	case errors.As(err, &eAuth):
		return ExitUsage, "check ETCDCTL_USER / ETCDCTL_PASSWORD (or TWAUTH_ETCD_*) and the user's role on the prefix"
	case errors.As(err, &eUnreach), errors.As(err, &eQuorum):
		return ExitFailure, "nothing was sent to X; try again when etcd answers"
	case errors.As(err, &eLockT):
		return ExitFailure, "another machine holds the chain's lock; try again, or raise --lock-timeout"
	case errors.As(err, &kUnavail):
		return ExitUsage, "start a Secret Service (gnome-keyring, KeePassXC), or keep the tokens in a file with --store PATH"
	case errors.As(err, &kLocked):
		return ExitUsage, "unlock the keyring (log in to the desktop, or gnome-keyring-daemon --unlock), or keep the tokens in a file with --store PATH"
	case errors.As(err, &kBig):
		return ExitUsage, "keep the tokens in a file with --store PATH"
	case errors.As(err, &kItem):
		return ExitLoginNeeded, "run twauth login"
	case errors.As(err, &kStray):
		return ExitFailure, "remove it with: secret-tool clear service " + kStray.Service + " username " + kStray.Key
	case errors.As(err, &unsafe):
		return ExitUsage, unsafe.Fix()
	case errors.As(err, &local):
		return ExitUsage, "X's client id and secret go in --client-id-key / --client-secret-key (clientId, clientSecret); the local ones in localClientId / localClientSecret"
	case errors.As(err, &notConf):
		return ExitUsage, "run twauth serve --configure in the program's directory first"
	case errors.As(err, &sListen):
		return ExitUsage, ""
	case errors.As(err, &account):
		return ExitUsage, "pick one with --account @name or TWAUTH_ACCOUNT"
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
	case errors.As(err, &secret) && secret.Note != "":
		return ExitUsage, "set TWAUTH_CLIENT_SECRET, or name the app in " + secret.ConfigPath + " (clientId = \"" + secret.ClientID + "\") so that its " + secret.SecretKey + " goes with it"
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
	case errors.As(err, &issE):
		return ExitAuth, "run twauth login --manual again, and approve on the server --issuer names"
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
	case errors.As(err, &nothing) && nothing.Revoking:
		return ExitLoginNeeded, "there is nothing to revoke (already revoked, or logged in with another --store)"
	case errors.As(err, &nothing):
		return ExitLoginNeeded, "run twauth login (or pass the --store it used)"
	case errors.As(err, &expired):
		return ExitLoginNeeded, "run twauth token or twauth refresh to renew it, or run twauth login"
	case errors.As(err, &lost), errors.As(err, &server), errors.As(err, &api), errors.As(err, &netE),
		errors.As(err, &login), errors.As(err, &endpoint), errors.As(err, &redirect), errors.As(err, &ports),
		errors.As(err, &listen), errors.As(err, &authz):
		return exitOAuth, ""
	case errors.As(err, &lockT), errors.As(err, &noRoom):
		return ExitFailure, ""
	case errors.As(err, &usage), errors.As(err, &appUsage), errors.As(err, &cfg):
		return ExitUsage, ""
	}
	return ExitFailure, ""
}

// codeOf is the exit code of err.
func codeOf(err error, ctx context.Context) int {
	code, _ := classify(err, ctx)
	if code == exitOAuth {
		code, _ = exitAndHint(err)
	}
	return code
}

// exitOAuth marks the errors of internal/oauth and internal/loopback, whose
// codes and hints exitAndHint gives.
const exitOAuth = -1

// exitAndHint is the command line's one mapping of the errors of
// internal/oauth and internal/loopback to an exit code and the advice
// appended to their text. With it, every message is word for word what
// twauth printed before the hints moved up (except LostResponseError, whose
// sentence order changed; see the note there).
func exitAndHint(err error) (code int, msg string) {
	msg = err.Error()
	var (
		se   *oauth.ServerError
		ae   *oauth.APIError
		ne   *oauth.NetworkError
		lost *oauth.LostResponseError
		ln   *oauth.LoginNeededError
		ee   *oauth.EndpointError
		pe   *loopback.PortsInUseError
		ru   *loopback.RedirectURIError
		le   *loopback.ListenError
		az   *loopback.AuthorizationError
	)
	const httpTimeout = " (raise --http-timeout if the network is slow)"
	// refusedCode: what a refused request means for the login (exit 3 for a
	// code, 4 for a refresh token, 1 otherwise).
	refusedCode := func(op oauth.Op) int {
		switch op {
		case oauth.OpExchange:
			return 3
		case oauth.OpRefresh:
			return 4
		}
		return 1
	}
	switch {
	case errors.As(err, &se):
		code = 1
		hint := ""
		switch se.Problem {
		case oauth.ProblemSecretRejected:
			code, hint = 2, "X did not accept the client secret: copy the app's OAuth 2.0 Client Secret again from the X developer portal (Keys and tokens); if the app is a public client (type Native App), send no secret at all (no --client-secret, TWAUTH_CLIENT_SECRET or clientSecret)"
		case oauth.ProblemSecretMissing:
			code, hint = 2, "this app is a confidential client: set its client secret (TWAUTH_CLIENT_SECRET or clientSecret in Config.toml)"
		case oauth.ProblemCodeRejected:
			code, hint = 3, "the code expired (X gives 30 s) or was already used, or the redirect URI differs from the one registered: run twauth login again"
		case oauth.ProblemRefreshRejected:
			code, hint = 4, "the refresh token was already used (X rotates it on every refresh), revoked, or belongs to another app: run twauth login"
		case oauth.ProblemScope:
			code, hint = refusedCode(se.Op), "ask only for scopes the app may use (--scopes); X's documented scopes are listed in `twauth login --help`"
		case oauth.ProblemDenied:
			code, hint = refusedCode(se.Op), "the app or the account is not allowed to do this"
		case oauth.ProblemRateLimited:
			hint = "X is rate limiting this app: wait a few minutes and try again"
		case oauth.ProblemServerFailing:
			hint = "X or a proxy in between is failing: try again later"
		case oauth.ProblemNotFound:
			hint = "check the endpoint URL (--token-url, --revoke-url, --api-url)"
		case oauth.ProblemNotEnrolled: // new
			hint = "the app must be attached to a Project in the X developer portal, on a plan with API access (paid or pay-per-use)"
		}
		if hint != "" {
			msg += ": " + hint
		}
	case errors.As(err, &ae):
		code = 1
		switch ae.Problem {
		case oauth.ProblemTokenRejected:
			code, msg = 4, msg+": the access token is expired, revoked or not valid; run twauth refresh or twauth login"
		case oauth.ProblemForbidden:
			msg += ": the token lacks the users.read and tweet.read scopes, or the app lacks access to this endpoint"
		case oauth.ProblemNotEnrolled: // new; today this 403 got the ProblemForbidden text
			msg += ": the app must be attached to a Project in the X developer portal, on a plan with API access (paid or pay-per-use)"
		}
	case errors.As(err, &lost):
		code = 1
		if lost.TimedOut() {
			msg += httpTimeout
		}
		if lost.Op == oauth.OpExchange {
			msg += ": run twauth login again"
		} else {
			msg += ": run twauth refresh once more, and if it exits 4, run twauth login"
		}
	case errors.As(err, &ne):
		code = 1
		if ne.TimedOut() {
			msg += httpTimeout
		}
		msg += ": try again when X is reachable"
	case errors.As(err, &ln):
		code, msg = 4, msg+": run twauth login"
	case errors.As(err, &ee):
		code = 2 // new: --auth-url, --token-url, --revoke-url, --api-url
	case errors.As(err, &pe):
		code, msg = 2, msg+": stop the program holding the port (another twauth login?), or pass --redirect-uri with another port that is registered as a callback URI of the X app"
	case errors.As(err, &ru):
		code = 2
		switch ru.Problem {
		case loopback.RedirectHTTPS:
			msg += "; register an http://127.0.0.1:<port>/ callback, or use --manual to paste the redirect"
		case loopback.RedirectNotLoopback:
			msg += " (use --manual to paste the redirect from another host)"
		}
	case errors.As(err, &le):
		code = 2 // new: --listen
	case errors.As(err, &az):
		code = 3
		msg += ": run twauth login again"
	default: // *oauth.ResponseError and the rest
		code = 1
	}
	return code, msg
}
