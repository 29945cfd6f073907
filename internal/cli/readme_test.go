package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twauth/twauth/internal/cli"
)

// The README's rule: every command and flag it shows works as shown. These
// tests hold README.md to the real cobra tree (asked through `--help`, as a
// user would) and to the Makefile.

// TestREADMECommandsExist checks every `twauth …` invocation, every flag
// mentioned with a twauth command, every TWAUTH_* variable and every
// `make` target that README.md names.
func TestREADMECommandsExist(t *testing.T) {
	readme, makefile := readmeFiles(t)
	tree := newReadmeTree()
	uses := extractReadme(readme)
	// The extractor must have found something, or it checks nothing.
	if len(uses.invocations) < 20 || len(uses.flags) < 30 || len(uses.envVars) < 5 || len(uses.makeTargets) < 5 {
		t.Fatalf("found only %d invocations, %d flags, %d TWAUTH_* variables and %d make targets in README.md: is the extractor broken?",
			len(uses.invocations), len(uses.flags), len(uses.envVars), len(uses.makeTargets))
	}
	for _, p := range checkReadme(tree, uses, makefile) {
		t.Error(p)
	}
}

// TestREADMEDocumentsEveryCommand checks the other way round: every command
// and every flag of the tree is mentioned in README.md.
func TestREADMEDocumentsEveryCommand(t *testing.T) {
	readme, _ := readmeFiles(t)
	tree := newReadmeTree()
	for _, c := range tree.children(nil) {
		if c == "help" {
			continue
		}
		if !strings.Contains(readme, "twauth "+c) {
			t.Errorf("README.md never shows `twauth %s`", c)
		}
		for _, names := range tree.flagNames([]string{c}) {
			if !slices.ContainsFunc(names, func(f string) bool { return readmeMentionsFlag(readme, f) }) {
				t.Errorf("README.md never mentions %s of twauth %s", strings.Join(names, " or "), c)
			}
		}
	}
}

// TestREADMECheckerCatchesMistakes feeds the checker a README with a
// mistake of each kind: it must report each one, and nothing in the good
// lines.
func TestREADMECheckerCatchesMistakes(t *testing.T) {
	tree := newReadmeTree()
	makefile := "build:\n\tgo build\n\ntest: build\n\tgo test\n"
	good := strings.Join([]string{
		"```sh",
		"make build && ./bin/twauth login --client-id \"$ID\" --manual   # comment --bogus",
		"out=$(twauth refresh --json --refresh-token x | jq -r .refresh_token)",
		"curl -H \"Authorization: Bearer $(twauth token)\" https://api.x.com --frobnicate",
		"go install github.com/twauth/twauth/cmd/twauth@latest",
		"```",
		"",
		"| `twauth completion bash\\|zsh`, `twauth exchange REDIRECT_URL\\|CODE` | `twauth pkce --method=plain` |",
		"",
		"| `twauth status` | `--verify` asks X; `-v` traces |",
		"| `login`, `url`: `--redirect-uri` | default; `TWAUTH_REDIRECT_URI` |",
		"| `--config` | first of `BAL_CONFIG_FILES` |",
		"",
		"The access token lands under `token`; (`login --no-browser`), then `--store`.",
		"`make test` runs it.",
	}, "\n")
	if ps := checkReadme(tree, extractReadme(good), makefile); len(ps) != 0 {
		t.Fatalf("problems in a correct README:\n%s", strings.Join(ps, "\n"))
	}

	for _, tc := range []struct{ readme, want string }{
		{"```sh\ntwauth login --bogus\n```", "--bogus"},
		{"```sh\n./bin/twauth frobnicate --json\n```", `"frobnicate"`},
		{"Run `twauth token --manual` now.", "--manual"},
		{"| `twauth pkce` | `--method S256`, `--no-browser` |", "--no-browser"},
		{"| `token --min-valid`, `--timeout` | `5m` |", "--timeout"},
		{"| `login`, `url`: `--browser` | x |", "twauth url"},
		{"| `--redirect-uri` | x |", "--redirect-uri"},
		{"`twauth completion tcsh`", "tcsh"},
		{"Set `TWAUTH_CLIENT_IDS` first.", "TWAUTH_CLIENT_IDS"},
		{"```sh\nmake release\n```", "release"},
		{"Run `make build && make deploy`.", "deploy"},
	} {
		ps := checkReadme(tree, extractReadme(good+"\n\n"+tc.readme+"\n"), makefile)
		if len(ps) != 1 || !strings.Contains(ps[0], tc.want) {
			t.Errorf("README line %q: problems %q, want one naming %s", tc.readme, ps, tc.want)
		}
	}
}

func readmeFiles(t *testing.T) (readme, makefile string) {
	t.Helper()
	r, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	return string(r), string(m)
}

// readmeFlagUse is a flag the README attributes to commands; cmds nil
// means no command is named with it: it must be a flag of twauth itself.
type readmeFlagUse struct {
	flag string
	cmds [][]string
	at   string
}

type readmeUses struct {
	invocations [][]string // command paths after "twauth"
	invAt       []string
	flags       []readmeFlagUse
	envVars     []string
	makeTargets []string
}

var (
	readmeSpanRE = regexp.MustCompile("`([^`]+)`")
	// twauth as a command: after a line start, a blank, a quote, "(" or a
	// path ("./bin/twauth"), and followed by a blank. Not twauth-dev, not
	// a module path.
	readmeTwauthRE = regexp.MustCompile(`(?:^|[\s"'(/=])twauth[ \t]+(\S.*)$`)
	readmeEnvRE    = regexp.MustCompile(`\bTWAUTH_[A-Z0-9_]+\b`)
	readmeMakeRE   = regexp.MustCompile(`(?:^|[\s;&|(])make[ \t]+([a-z][a-z0-9_-]*)`)
	readmeTargetRE = regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)[ \t]*:([^=]|$)`)
	readmeListRE   = regexp.MustCompile(`^\s*(?:[-*]|\d+\.)\s`)
)

// readmeCommandNames are twauth's commands, for telling `login --manual`
// (a command and its flag) from other code spans.
var readmeCommandNames = []string{"login", "token", "refresh", "status", "revoke", "pkce", "url", "exchange", "completion", "version"}

// extractReadme finds what README text says about the command line:
//
//   - `twauth CMD [SUBCMD] [--flag …]` in code blocks and code spans (up to
//     a pipe, ;, &&, ) or a comment);
//   - flags in code spans (`--json`, `-v`, `--method S256|plain`), each
//     attributed to the commands last named before it in the same table
//     row, list item or paragraph: `twauth pkce`, a span that starts with a
//     command name (`login --timeout`), or a run of bare command names
//     (`login`, `url`: `--redirect-uri`); with none, it is a root flag;
//   - TWAUTH_* names anywhere;
//   - `make TARGET` in code blocks and code spans.
func extractReadme(text string) readmeUses {
	var u readmeUses
	lines := strings.Split(text, "\n")
	var unit []string
	unitStart := 0
	flush := func() {
		if len(unit) > 0 {
			u.scanProse(strings.Join(unit, " "), fmt.Sprintf("README.md:%d", unitStart+1))
		}
		unit = nil
	}
	inFence := false
	for i, line := range lines {
		at := fmt.Sprintf("README.md:%d", i+1)
		u.envVars = append(u.envVars, readmeEnvRE.FindAllString(line, -1)...)
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			flush()
			inFence = !inFence
			continue
		}
		if inFence {
			code := line
			if j := strings.Index(code, "#"); j >= 0 && (j == 0 || code[j-1] == ' ' || code[j-1] == '\t') {
				code = code[:j] // a shell or YAML comment
			}
			u.scanCode(code, at)
			continue
		}
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			flush()
		case strings.HasPrefix(trimmed, "|"):
			// A table row is a unit; \| is a | inside a cell.
			flush()
			u.scanProse(strings.ReplaceAll(trimmed, `\|`, "|"), at)
		case readmeListRE.MatchString(line):
			flush()
			unit, unitStart = []string{line}, i
		default:
			if len(unit) == 0 {
				unitStart = i
			}
			unit = append(unit, line)
		}
	}
	flush()
	return u
}

// scanCode reads one line of a code block.
func (u *readmeUses) scanCode(line, at string) {
	for _, m := range readmeMakeRE.FindAllStringSubmatch(line, -1) {
		u.makeTargets = append(u.makeTargets, m[1])
	}
	u.scanInvocations(line, at)
}

// scanInvocations finds `twauth …` in s; it returns the path of the last.
func (u *readmeUses) scanInvocations(s, at string) []string {
	var last []string
	rest := s
	for {
		loc := readmeTwauthRE.FindStringSubmatchIndex(rest)
		if loc == nil {
			return last
		}
		path, flags := parseReadmeArgs(rest[loc[2]:loc[3]])
		u.invocations = append(u.invocations, path)
		u.invAt = append(u.invAt, at)
		for _, f := range flags {
			u.flags = append(u.flags, readmeFlagUse{flag: f, cmds: [][]string{path}, at: at})
		}
		last = path
		// A later twauth on the same line ($(twauth token) twice).
		rest = rest[loc[2]:]
	}
}

// parseReadmeArgs splits the words after "twauth": the leading words that
// are not flags are the command path (a|b lists alternatives); the flags
// follow. It stops at a shell operator, a closing parenthesis or a comment.
func parseReadmeArgs(s string) (path, flags []string) {
	seenFlag := false
	for _, w := range strings.Fields(s) {
		stop := false
		switch {
		case w == "|" || w == "||" || w == "&&" || w == ";" || strings.HasPrefix(w, "#") ||
			strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "2>"):
			return path, flags
		case strings.ContainsAny(w, ");"):
			w = w[:strings.IndexAny(w, ");")]
			stop = true
		}
		w = strings.Trim(w, `"'`)
		switch {
		case w == "":
		case strings.HasPrefix(w, "-") && len(w) > 1:
			seenFlag = true
			if i := strings.IndexByte(w, '='); i >= 0 {
				w = w[:i]
			}
			flags = append(flags, w)
		case !seenFlag:
			path = append(path, w)
		}
		if stop {
			break
		}
	}
	return path, flags
}

// scanProse reads a paragraph, list item or table row: its code spans, in
// order, name commands and flags.
func (u *readmeUses) scanProse(s, at string) {
	var cmds [][]string
	prevBare := false // the span before was a bare command name
	for _, m := range readmeSpanRE.FindAllStringSubmatch(s, -1) {
		span := strings.TrimSpace(m[1])
		for _, mm := range readmeMakeRE.FindAllStringSubmatch(span, -1) {
			u.makeTargets = append(u.makeTargets, mm[1])
		}
		words := strings.Fields(span)
		if len(words) == 0 {
			continue
		}
		bare := false
		var flagWords []string
		switch {
		case readmeTwauthRE.MatchString(span):
			if p := u.scanInvocations(span, at); len(p) > 0 {
				cmds = [][]string{p}
			}
		case slices.Contains(readmeCommandNames, words[0]):
			bare = len(words) == 1
			if bare && prevBare {
				cmds = append(cmds, words[:1]) // `login`, `url`: …
			} else {
				cmds = [][]string{words[:1]}
			}
			flagWords = words[1:]
		case strings.HasPrefix(words[0], "-"):
			flagWords = words
		}
		prevBare = bare
		for _, w := range flagWords {
			if !strings.HasPrefix(w, "-") || len(w) < 2 {
				continue // a value: S256|plain, 43..128
			}
			if i := strings.IndexByte(w, '='); i >= 0 {
				w = w[:i]
			}
			u.flags = append(u.flags, readmeFlagUse{flag: w, cmds: slices.Clone(cmds), at: at})
		}
	}
}

// readmeTree answers questions about the real command tree from its help
// output.
type readmeTree struct {
	cache map[string]readmeHelp
}

type readmeHelp struct {
	code int
	out  string
}

func newReadmeTree() *readmeTree {
	return &readmeTree{cache: map[string]readmeHelp{}}
}

// help runs `twauth PATH --help`.
func (tr *readmeTree) help(path []string) readmeHelp {
	key := strings.Join(path, " ")
	if h, ok := tr.cache[key]; ok {
		return h
	}
	var out bytes.Buffer
	code := cli.Run(context.Background(), cli.Deps{Stdout: &out, Stderr: &out}, append(slices.Clone(path), "--help"))
	h := readmeHelp{code, out.String()}
	tr.cache[key] = h
	return h
}

// children lists the subcommands of path.
func (tr *readmeTree) children(path []string) []string {
	h := tr.help(path)
	_, sec, ok := strings.Cut(h.out, "\nAvailable Commands:\n")
	if !ok {
		return nil
	}
	sec, _, _ = strings.Cut(sec, "\n\n")
	var out []string
	for _, l := range strings.Split(sec, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

var readmeHelpFlagRE = regexp.MustCompile(`(?m)^\s+(?:(-[A-Za-z0-9]), )?(--[a-z0-9-]+)\b`)

// flagNames lists the flags path accepts, its own and inherited, each as
// its names: {"--verbose", "-v"} or {"--json"}.
func (tr *readmeTree) flagNames(path []string) [][]string {
	var out [][]string
	for _, m := range readmeHelpFlagRE.FindAllStringSubmatch(tr.help(path).out, -1) {
		if m[2] == "--help" {
			continue
		}
		names := []string{m[2]}
		if m[1] != "" {
			names = append(names, m[1])
		}
		out = append(out, names)
	}
	return out
}

// flags lists every name of every flag path accepts.
func (tr *readmeTree) flags(path []string) []string {
	return slices.Concat(tr.flagNames(path)...)
}

func (tr *readmeTree) allFlags() []string {
	all := tr.flags(nil)
	for _, c := range tr.children(nil) {
		all = append(all, tr.flags([]string{c})...)
	}
	return all
}

// resolve checks a command path word by word: each must be a subcommand of
// the one before, or, where the command has none, an argument. Words
// written a|b are alternatives, each checked.
func (tr *readmeTree) resolve(path []string) (cmd []string, problem string) {
	if len(path) == 0 {
		return nil, ""
	}
	for _, w := range path {
		kids := tr.children(cmd)
		if len(kids) == 0 {
			break // an argument (REDIRECT_URL|CODE)
		}
		alts := strings.Split(w, "|")
		for _, a := range alts {
			if !slices.Contains(kids, a) {
				return nil, fmt.Sprintf("%q is not a command of %q (it has %s)", a, strings.TrimSpace("twauth "+strings.Join(cmd, " ")), strings.Join(kids, ", "))
			}
		}
		if h := tr.help(append(slices.Clone(cmd), alts[0])); h.code != 0 {
			return nil, fmt.Sprintf("twauth %s --help exits %d: %s", strings.Join(append(slices.Clone(cmd), alts[0]), " "), h.code, h.out)
		}
		cmd = append(cmd, alts[0])
	}
	return cmd, ""
}

// checkReadme returns one line per claim of the README the tree or the
// Makefile does not bear out.
func checkReadme(tr *readmeTree, u readmeUses, makefile string) []string {
	var ps []string
	for i, inv := range u.invocations {
		if _, p := tr.resolve(inv); p != "" {
			ps = append(ps, fmt.Sprintf("%s: twauth %s: %s", u.invAt[i], strings.Join(inv, " "), p))
		}
	}
	for _, f := range u.flags {
		cmds := f.cmds
		if len(cmds) == 0 {
			cmds = [][]string{nil}
		}
		for _, c := range cmds {
			cmd, p := tr.resolve(c)
			if p != "" {
				continue // reported with the invocation
			}
			if !slices.Contains(tr.flags(cmd), f.flag) {
				name := "twauth " + strings.Join(cmd, " ")
				if len(cmd) == 0 {
					name = "twauth itself (no command is named with it)"
				}
				ps = append(ps, fmt.Sprintf("%s: %s is not a flag of %s", f.at, f.flag, strings.TrimSpace(name)))
			}
		}
	}
	all := tr.allFlags()
	for _, v := range readmeUnique(u.envVars) {
		if strings.HasPrefix(v, "TWAUTH_ETCD_") {
			// etcd's settings, read by internal/etcdstore (etcdctl's names).
			continue
		}
		flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(v, "TWAUTH_")), "_", "-")
		if !slices.Contains(all, flag) || cli.EnvName(strings.TrimPrefix(flag, "--")) != v {
			ps = append(ps, fmt.Sprintf("README.md: %s names no flag (%s is not one of any command)", v, flag))
		}
	}
	targets := map[string]bool{}
	for _, m := range readmeTargetRE.FindAllStringSubmatch(makefile, -1) {
		targets[m[1]] = true
	}
	for _, tg := range readmeUnique(u.makeTargets) {
		if !targets[tg] {
			ps = append(ps, fmt.Sprintf("README.md: make %s: the Makefile has no target %q", tg, tg))
		}
	}
	return ps
}

// readmeMentionsFlag reports whether text names flag (not as the prefix
// of a longer flag).
func readmeMentionsFlag(text, flag string) bool {
	return regexp.MustCompile(regexp.QuoteMeta(flag) + `(?:[^a-z0-9-]|$)`).MatchString(text)
}

func readmeUnique(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
