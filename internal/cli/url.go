package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/resolve"
)

// URLOptions are the options of `twauth url`.
type URLOptions struct {
	f            *Factory
	Method       string
	RedirectURIs []string
	Scopes       string
}

// NewCmdURL builds `twauth url`.
func NewCmdURL(f *Factory, runF func(context.Context, *URLOptions) error) *cobra.Command {
	o := &URLOptions{f: f}
	c := &cobra.Command{
		Use:   "url",
		Short: "Print the authorization URL of a new login and keep it pending for 'twauth exchange'",
		Long: `Print the authorization URL of a new login on stdout. Its verifier, state,
redirect URI, client id and scopes are kept as a pending login (0600, beside the
store) for 10 minutes; finish it with 'twauth exchange REDIRECT_URL'.` + scopesHelp,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return urlRun(cmd.Context(), o)
		},
	}
	addAuthFlags(c, &o.RedirectURIs, &o.Scopes, &o.Method, false)
	return c
}

func urlRun(ctx context.Context, o *URLOptions) error {
	f := o.f
	m, err := parseMethod(o.Method)
	if err != nil {
		return err
	}
	st, err := f.openStore()
	if err != nil {
		return err
	}
	t, cache, _, err := f.resolve(st, targetOptions{use: resolve.NewLogin})
	if err != nil {
		return err
	}
	r, err := f.runner(t, st, cache)
	if err != nil {
		return err
	}
	s, err := r.URL(ctx, app.URLOptions{PKCEMethod: m, RedirectURIs: o.RedirectURIs, Scopes: splitScopes(o.Scopes)})
	if err != nil {
		return err
	}
	p := s.Pending
	if f.Global.JSON {
		if err := printJSON(f.Stdout, URLJSON{URL: s.URL, ClientID: p.ClientID, RedirectURI: p.RedirectURI, Scope: strings.Join(p.Scopes, " "), ExpiresAt: p.ExpiresAt.Format(time.RFC3339)}); err != nil {
			return err
		}
	} else if _, err := fmt.Fprintln(f.Stdout, s.URL); err != nil {
		return err
	}
	f.say("Open the URL above in any browser and approve. Then, within 30 seconds (X's code lifetime), run\n\n    twauth exchange '<the URL the browser was sent to>'\n\nThe pending login is kept in %s until %s.", s.PendingPath, p.ExpiresAt.Format("15:04:05 UTC"))
	return nil
}
