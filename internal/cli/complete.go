package cli

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/keyringstore"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/store"
)

// registerCompletions teaches the shell completion (`twauth completion`)
// the values of twauth's flags: PKCE methods, X's scopes, the client ids
// and accounts of the token store, and the --store forms. The shells
// themselves are the subcommands of `completion`, which cobra completes.
func registerCompletions(root *cobra.Command, f *Factory) {
	methods := fixedValues(string(pkce.S256), string(pkce.Plain))
	for _, name := range []string{"login", "url"} {
		c := subcommand(root, name)
		mustRegister(c, "pkce-method", methods)
		mustRegister(c, "scopes", completeScopes)
	}
	mustRegister(subcommand(root, "pkce"), "method", methods)
	mustRegister(root, "client-id", f.completeClientIDs)
	mustRegister(root, "account", f.completeAccounts)
	mustRegister(root, "store", completeStore)
}

type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

func subcommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	panic("twauth: no command " + name + " to complete the flags of")
}

// mustRegister registers fn for the flag name of c (a persistent flag of
// root counts for every command). It fails only on a flag that does not
// exist or is registered twice: a mistake in the tree, which every test
// that builds the tree reports.
func mustRegister(c *cobra.Command, name string, fn completeFunc) {
	if err := c.RegisterFlagCompletionFunc(name, fn); err != nil {
		panic("twauth: completion of --" + name + " of " + c.CommandPath() + ": " + err.Error())
	}
}

// fixedValues completes one of values.
func fixedValues(values ...string) completeFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return withPrefix(values, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func withPrefix(values []string, prefix string) []string {
	var out []string
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// completeScopes completes the last scope of a list (separated by spaces
// or commas, as --scopes takes it) with X's scopes not already in it,
// keeping the scopes before it: "tweet.read,us" → "tweet.read,users.read".
func completeScopes(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	cut := strings.LastIndexAny(toComplete, " ,\t\n") + 1
	head, word := toComplete[:cut], toComplete[cut:]
	given := splitScopes(head)
	var out []string
	for _, s := range withPrefix(oauth.Scopes, word) {
		if !slices.Contains(given, s) {
			out = append(out, head+s)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// storeForms are the values of --store that are not files; open says
// that more must follow (a service name, etcd's endpoints).
var storeForms = []struct {
	value, help string
	open        bool
}{
	{"keyring", "the OS keyring, service " + keyringstore.DefaultService, false},
	{"keyring:", "keyring:SERVICE, the OS keyring under another service name", true},
	{"etcd://", "etcd://HOST:PORT[,HOST:PORT...]/PREFIX, one chain shared by many machines", true},
}

// completeStore completes the keyring and etcd forms of --store once a word
// starts like them, and otherwise leaves the shell to complete a file name.
func completeStore(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if toComplete == "" {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []string
	open := false
	for _, form := range storeForms {
		if strings.HasPrefix(toComplete, form.value) && form.open {
			// A service name or endpoints: nothing lists them.
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if strings.HasPrefix(form.value, toComplete) {
			out = append(out, form.value+"\t"+form.help)
			open = form.open
		}
	}
	switch {
	case len(out) == 0:
		return nil, cobra.ShellCompDirectiveDefault
	case len(out) == 1 && open:
		// Nothing after "etcd://" yet: no space.
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeClientIDs completes the client ids in the token store, each
// described by its accounts.
func (f *Factory) completeClientIDs(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	file := f.completionStore(cmd)
	if file == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, id := range withPrefix(file.ClientIDs(), toComplete) {
		var names []string
		for _, e := range file.Accounts(id) {
			if n := accountValue(e); n != "" {
				names = append(names, n)
			}
		}
		if len(names) > 0 {
			id += "\t" + strings.Join(names, " ")
		}
		out = append(out, id)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeAccounts completes the accounts ("@name", else the user id) of
// the app --client-id or TWAUTH_CLIENT_ID names, or of every app in the
// store when neither does. A word without its "@" completes names without
// it, as --account takes them too.
func (f *Factory) completeAccounts(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	file := f.completionStore(cmd)
	if file == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ids := file.ClientIDs()
	if id := f.completionValue(cmd, "client-id", f.Global.ClientID); id != "" {
		ids = []string{id}
	}
	var out []string
	for _, id := range ids {
		for _, e := range file.Accounts(id) {
			n := accountValue(e)
			if toComplete != "" && !strings.HasPrefix(toComplete, "@") {
				n = strings.TrimPrefix(n, "@")
			}
			if n != "" && strings.HasPrefix(n, toComplete) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// accountValue is what --account takes for e: "@name", else the user id.
func accountValue(e *store.Entry) string {
	if e.Username != "" {
		return "@" + e.Username
	}
	return e.UserID
}

// completionValue is the value of a global flag during completion: the
// flag, else its TWAUTH_* variable (completion runs no PersistentPreRunE
// to apply them).
func (f *Factory) completionValue(cmd *cobra.Command, name, flagValue string) string {
	if cmd.Flags().Changed(name) {
		return flagValue
	}
	return f.Getenv(EnvName(name))
}

// completionStore reads the token store openStore would open, read-only:
// the file --store or TWAUTH_STORE names, else the default file, which is
// also where a keyring store keeps the client ids and usernames (the
// keyring itself is never asked: it may want to be unlocked; nor is an
// etcd store: completion asks no server). Nil when the store cannot be
// read or is refused: completion then offers nothing, and says nothing.
func (f *Factory) completionStore(cmd *cobra.Command) *store.File {
	path := f.completionValue(cmd, "store", f.Global.StoreArg)
	switch {
	case strings.HasPrefix(path, "etcd://"):
		// Completion asks no server.
		return nil
	case strings.HasPrefix(path, "keyring:") || path == "keyring":
		path = ""
	}
	if path == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return nil
		}
		path = p
	}
	abs, err := filepath.Abs(path)
	if err != nil || store.CheckPermissions(abs) != nil {
		return nil
	}
	file, err := (&store.Store{Path: abs}).Load()
	if err != nil {
		return nil
	}
	return file
}
