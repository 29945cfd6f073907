package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/pkce"
)

// PKCEOptions are the options of `twauth pkce`.
type PKCEOptions struct {
	f      *Factory
	Method string
	Length int
}

// NewCmdPKCE builds `twauth pkce`.
func NewCmdPKCE(f *Factory, runF func(context.Context, *PKCEOptions) error) *cobra.Command {
	o := &PKCEOptions{f: f}
	c := &cobra.Command{
		Use:   "pkce",
		Short: "Print a fresh PKCE code verifier and its challenge",
		Long:  "Print a code verifier (RFC 7636: 43 to 128 characters of A-Z a-z 0-9 - . _ ~,\nfrom a cryptographic random source) and its code challenge.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return pkceRun(o)
		},
	}
	c.Flags().StringVar(&o.Method, "method", "S256", "code_challenge_method: S256 or plain")
	c.Flags().IntVar(&o.Length, "length", 64, "verifier length, 43 to 128")
	return c
}

func pkceRun(o *PKCEOptions) error {
	m, err := parseMethod(o.Method)
	if err != nil {
		return err
	}
	p, err := pkce.New(m, o.Length)
	if err != nil {
		return &usageError{err.Error()}
	}
	if m == pkce.Plain {
		o.f.warnf("with plain the challenge is the verifier itself: use S256 unless the server cannot")
	}
	if o.f.Global.JSON {
		return printJSON(o.f.Stdout, PKCEJSON{Verifier: p.Verifier, Challenge: p.Challenge, Method: string(p.Method)})
	}
	_, err = fmt.Fprintf(o.f.Stdout, "code_verifier=%s\ncode_challenge=%s\ncode_challenge_method=%s\n", p.Verifier, p.Challenge, p.Method)
	return err
}
