package cli

import (
	"context"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/resolve"
)

// RevokeOptions are the options of `twauth revoke`.
type RevokeOptions struct{ f *Factory }

// NewCmdRevoke builds `twauth revoke`.
func NewCmdRevoke(f *Factory, runF func(context.Context, *RevokeOptions) error) *cobra.Command {
	o := &RevokeOptions{f: f}
	return &cobra.Command{
		Use:   "revoke",
		Short: "Revoke the tokens at X and remove them from Config.toml and the store",
		Long: `Revoke the refresh and access tokens at X (RFC 7009), then clear them from
Config.toml — a key twauth created is removed, a key the program declares is set
to "" so the program still starts — and remove the app from the store. When X
cannot be reached nothing local is changed, so the command can be run again.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return revokeRun(cmd.Context(), o)
		},
	}
}

func revokeRun(ctx context.Context, o *RevokeOptions) error {
	f := o.f
	st, err := f.openStore()
	if err != nil {
		return err
	}
	t, cache, _, err := f.resolve(st, targetOptions{use: resolve.ExistingLogin})
	if err != nil {
		return err
	}
	r, err := f.runner(t, st, cache)
	if err != nil {
		return err
	}
	res, err := r.Revoke(ctx)
	if err != nil {
		return err
	}
	if f.Global.JSON {
		return printJSON(f.Stdout, RevokeJSON{ClientID: res.ClientID, Revoked: true, Config: res.ConfigPath, RemovedKeys: nonNil(res.Removed), BlankedKeys: nonNil(res.Blanked), KeptKeys: nonNil(res.Kept), RemovedEarlierKeys: nonNilMap(res.RemovedEarlier), Store: res.StorePath})
	}
	f.say("Revoked at X: %s.", joinAnd(res.Notes))
	if len(res.Removed) > 0 {
		f.say("Removed %s from %s.", joinAnd(keyWords(res.Removed)), res.ConfigPath)
	}
	if len(res.Blanked) > 0 {
		f.say("Set %s to \"\" in %s: the program declares it.", joinAnd(keyWords(res.Blanked)), res.ConfigPath)
	}
	if len(res.Kept) > 0 {
		f.say("Kept %s in %s: it holds a value that is not this app's token.", joinAnd(keyWords(res.Kept)), res.ConfigPath)
	}
	for _, path := range slices.Sorted(maps.Keys(res.RemovedEarlier)) {
		f.say("Revoked at X and removed %s from %s (written by an earlier login).", joinAnd(keyWords(res.RemovedEarlier[path])), path)
	}
	f.say("Removed client id %s from %s.", res.ClientID, res.StorePath)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func keyWords(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = "key " + x
	}
	return out
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " and " + s[len(s)-1]
}

func nonNilMap(m map[string][]string) map[string][]string {
	if m == nil {
		return map[string][]string{}
	}
	return m
}
