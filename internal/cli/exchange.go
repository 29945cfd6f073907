package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/resolve"
)

// ExchangeOptions are the options of `twauth exchange`.
type ExchangeOptions struct {
	f *Factory
	// Pasted is the redirect URL or the bare code.
	Pasted string
}

// NewCmdExchange builds `twauth exchange`.
func NewCmdExchange(f *Factory, runF func(context.Context, *ExchangeOptions) error) *cobra.Command {
	o := &ExchangeOptions{f: f}
	return &cobra.Command{
		Use:   "exchange REDIRECT_URL|CODE",
		Short: "Finish a login started by 'twauth url' with the redirect URL or code",
		Long: `Finish the pending login that 'twauth url' started: pass the whole URL the
browser was redirected to (its state is checked), or just the code (it cannot
be). The tokens are saved exactly as 'twauth login' saves them. X's code expires
30 seconds after you approve.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Pasted = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return exchangeRun(cmd.Context(), o)
		},
	}
}

// exchangeRun finds the pending login first (without taking it): it names
// the app, and so the target; everything that would keep the tokens from
// being saved is checked before it is taken and the code spent.
func exchangeRun(ctx context.Context, o *ExchangeOptions) error {
	f := o.f
	p, err := app.ParsePasted(o.Pasted)
	if err != nil {
		return err
	}
	st, err := f.openStoreFor(true)
	if err != nil {
		return err
	}
	// Only an explicitly chosen client narrows the search for a bare code.
	filter := ""
	if f.Global.from("client-id") != "" {
		filter = f.Global.ClientID
	}
	pend, err := st.PeekPending(p.State, filter, f.now())
	if err != nil {
		return err
	}
	t, cache, _, err := f.resolve(st, targetOptions{use: resolve.NewLogin, clientID: resolve.Setting{Value: pend.ClientID, From: "the pending login"}})
	if err != nil {
		return err
	}
	r, err := f.runner(t, st, cache)
	if err != nil {
		return err
	}
	res, err := r.Exchange(ctx, p, pend, filter)
	if err != nil {
		return err
	}
	return f.loginSummary(res)
}
