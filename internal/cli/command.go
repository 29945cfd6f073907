package cli

import "github.com/spf13/cobra"

// Command returns twauth's whole command tree, for documentation generators.
func Command(deps Deps) *cobra.Command { return newRootCmd(deps, nil) }
