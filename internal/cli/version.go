package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time by the Makefile
// (-ldflags "-X github.com/twauth/twauth/internal/cli.version=…").
var version = ""

// NewCmdVersion builds `twauth version`; `twauth --version` prints the
// same line.
func NewCmdVersion(f *Factory, runF func(context.Context, *Factory) error) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print twauth's version (--json: version, revision, modified, go)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), f)
			}
			if f.Global.JSON {
				return printJSON(f.Stdout, readBuild())
			}
			_, err := fmt.Fprintln(f.Stdout, Version())
			return err
		},
	}
}

// buildInfo is what `twauth version --json` prints.
type buildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	// Modified is set only when the revision is known.
	Modified *bool  `json:"modified,omitempty"`
	Go       string `json:"go,omitempty"`
}

// readBuild describes this build: the version stamped by the Makefile or
// the module version, the VCS revision when known, and the Go version.
func readBuild() buildInfo {
	b := buildInfo{Version: version}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "(unknown)"
		}
		return b
	}
	if b.Version == "" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	b.Go = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			m := s.Value == "true"
			b.Modified = &m
		}
	}
	return b
}

// Version is the one-line form: "twauth v1.2.3 (0123456789ab, modified) go1.26".
func Version() string {
	b := readBuild()
	out := "twauth " + b.Version
	if rev := b.Revision; rev != "" && !strings.Contains(b.Version, rev[:min(len(rev), 7)]) {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " (" + rev
		if b.Modified != nil && *b.Modified {
			out += ", modified"
		}
		out += ")"
	}
	if b.Go != "" {
		out += " " + b.Go
	}
	return out
}
