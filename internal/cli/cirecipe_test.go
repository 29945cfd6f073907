package cli_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twauth/twauth/internal/xtest"
)

// The README's "Use in CI" recipe, run as GitHub Actions would run it: its
// `run: |` steps, with the env the step declares, under bash -euo pipefail,
// with the real twauth on PATH against the fake X, and a stand-in for gh
// that keeps what `gh secret set` is given.

// ciStep is a `run: |` step of the recipe: its script and its env, whose
// values are still ${{ expressions }}.
type ciStep struct {
	script string
	env    [][2]string
}

// ciRecipe returns the YAML block of the README's "Use in CI" section.
func ciRecipe(t *testing.T) string {
	t.Helper()
	readme, _ := readmeFiles(t)
	_, section, ok := strings.Cut(readme, "\n## Use in CI\n")
	if !ok {
		t.Fatal(`README.md has no "## Use in CI" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```yaml\n")
	if !ok {
		t.Fatal(`README.md's "Use in CI" has no yaml block`)
	}
	block, _, ok = strings.Cut(block, "\n```")
	if !ok {
		t.Fatal(`README.md's "Use in CI" yaml block does not end`)
	}
	return block
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// ciSteps parses, by indentation, the `run: |` steps of a workflow and the
// env mapping of each.
func ciSteps(yaml string) []ciStep {
	lines := strings.Split(yaml, "\n")
	var steps []ciStep
	for i, line := range lines {
		body := strings.TrimPrefix(strings.TrimLeft(line, " "), "- ")
		if strings.TrimSpace(body) != "run: |" {
			continue
		}
		key := len(line) - len(body) // the column of "run:"
		// The script: the lines indented deeper than the key, less the
		// indentation of the first.
		var script []string
		cut := -1
		for _, l := range lines[i+1:] {
			if strings.TrimSpace(l) != "" && indentOf(l) <= key {
				break
			}
			if cut < 0 && strings.TrimSpace(l) != "" {
				cut = indentOf(l)
			}
			if len(l) > cut && cut >= 0 {
				l = l[cut:]
			} else {
				l = strings.TrimSpace(l)
			}
			script = append(script, l)
		}
		// The step begins at the "- " at the key's column less two; its
		// env is a key of the same column between there and run.
		start := i
		for start > 0 && !strings.HasPrefix(lines[start][min(key-2, len(lines[start])):], "- ") {
			start--
		}
		var env [][2]string
		for j := start; j < i; j++ {
			if indentOf(lines[j]) > key || strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[j]), "- ")) != "env:" {
				continue
			}
			for _, l := range lines[j+1 : i] {
				if indentOf(l) <= key {
					break
				}
				name, value, _ := strings.Cut(strings.TrimSpace(l), ":")
				value, _, _ = strings.Cut(value, " #")
				env = append(env, [2]string{name, strings.TrimSpace(value)})
			}
		}
		steps = append(steps, ciStep{script: strings.Join(script, "\n"), env: env})
	}
	return steps
}

// TestCIRecipeParse holds the parser to a workflow of known shape, so that
// a recipe it misreads cannot pass for one with nothing to run.
func TestCIRecipeParse(t *testing.T) {
	yaml := strings.Join([]string{
		"jobs:",
		"  a:",
		"    steps:",
		"      - run: echo one-line",
		"      - name: Two",
		"        env:",
		"          A: ${{ secrets.A }}   # a comment",
		"          B: plain",
		"        run: |",
		"          set -e",
		"",
		"          if true; then",
		"            echo two",
		"          fi",
		"      - run: |",
		"          echo three",
		"  b:",
		"    steps:",
		"      - env: { C: c }",
		"        run: echo four",
	}, "\n")
	got := ciSteps(yaml)
	want := []ciStep{
		{script: "set -e\n\nif true; then\n  echo two\nfi", env: [][2]string{{"A", "${{ secrets.A }}"}, {"B", "plain"}}},
		{script: "echo three"},
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("ciSteps:\n got %q\nwant %q", got, want)
	}
}

// ghStandIn is `gh` for the recipe: `gh secret set NAME` with the value on
// stdin, recorded as $GH_STANDIN/N-NAME (N counts the calls); anything
// else (--body with the value on the command line, say) is refused. With
// $GH_STANDIN_DENY set it fails as gh does for a token that may not write
// secrets.
const ghStandIn = `#!/usr/bin/env bash
set -euo pipefail
n=$(( $(ls "$GH_STANDIN" | wc -l) + 1 ))
echo "$n $*" >>"$GH_STANDIN.calls"
if [ -z "${GH_TOKEN:-}" ]; then
	echo 'gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable.' >&2
	exit 4
fi
if [ $# -ne 3 ] || [ "$1 $2" != "secret set" ]; then
	echo "gh stand-in: want exactly: gh secret set NAME (value on stdin), got $# arguments" >&2
	exit 2
fi
if [ -n "${GH_STANDIN_DENY:-}" ]; then
	echo "failed to fetch public key: HTTP 403: Resource not accessible by personal access token (https://api.github.com/repos/$GH_REPO/actions/secrets/public-key)" >&2
	exit 1
fi
cat >"$GH_STANDIN/$n-$3"
echo "✓ Set Actions secret $3 for $GH_REPO" >&2
`

// jqStandIn does what the recipe asks of jq, for machines without it: jq
// -r or -er .KEY of a JSON object whose value is a plain string.
const jqStandIn = `#!/usr/bin/env bash
set -euo pipefail
case $1 in -er | -re) strict=1 ;; -r) strict=0 ;; *) echo "jq stand-in: $1 unsupported" >&2; exit 2 ;; esac
json=$(cat)
re="\"${2#.}\": *\"([^\"\\\\]*)\""
if [[ $json =~ $re ]]; then
	printf '%s\n' "${BASH_REMATCH[1]}"
	exit 0
fi
echo null
exit $strict
`

// ciJob is one run of the recipe's steps on a fresh runner.
type ciJob struct {
	code   int
	output string
	// secrets are the values `gh secret set` was given, in order, by name.
	secrets [][2]string
	calls   string
	dir     string
}

// runCIRecipe runs steps as a job would, on a fresh runner (home and
// checkout), with bin first on PATH and the values of the ${{ }}
// expressions in values. It fails the test on an expression it does not
// know.
func runCIRecipe(t *testing.T, steps []ciStep, bin string, srv *xtest.Server, values map[string]string, extra ...string) ciJob {
	t.Helper()
	runner := t.TempDir()
	home, checkout, gh := filepath.Join(runner, "home"), filepath.Join(runner, "checkout"), filepath.Join(runner, "gh")
	for _, d := range []string{home, checkout, gh} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	job := ciJob{dir: checkout}
	expr := regexp.MustCompile(`^\$\{\{ *([^ }]+) *\}\}$`)
	for i, step := range steps {
		env := append(binaryEnv(home),
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			// Where a job's twauth finds X: the fake one.
			"TWAUTH_AUTH_URL="+srv.AuthURL(), "TWAUTH_TOKEN_URL="+srv.TokenURL(),
			"TWAUTH_REVOKE_URL="+srv.RevokeURL(), "TWAUTH_API_URL="+srv.APIURL(),
			"GH_STANDIN="+gh)
		env = append(env, extra...)
		for _, kv := range step.env {
			v := kv[1]
			if m := expr.FindStringSubmatch(v); m != nil {
				val, ok := values[m[1]]
				if !ok {
					t.Fatalf("step %d: env %s is ${{ %s }}, which the test does not know", i+1, kv[0], m[1])
				}
				v = val
			}
			env = append(env, kv[0]+"="+v)
		}
		script := filepath.Join(runner, fmt.Sprintf("step%d.sh", i+1))
		if err := os.WriteFile(script, []byte(step.script+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "-euo", "pipefail", script)
		cmd.Dir, cmd.Env = checkout, env
		// One pipe for both, as a job's log: the order of lines is kept.
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatal(err)
			}
			job.code = cmd.ProcessState.ExitCode()
			break
		}
	}
	job.output = out.String()
	entries, err := os.ReadDir(gh)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= len(entries); n++ {
		matches, _ := filepath.Glob(filepath.Join(gh, fmt.Sprintf("%d-*", n)))
		if len(matches) != 1 {
			t.Fatalf("gh stand-in: call %d left %q", n, matches)
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		job.secrets = append(job.secrets, [2]string{strings.TrimPrefix(filepath.Base(matches[0]), fmt.Sprint(n, "-")), string(b)})
	}
	if b, err := os.ReadFile(gh + ".calls"); err == nil {
		job.calls = string(b)
	}
	return job
}

// ciBin is a directory of the commands a job finds on PATH: the real
// twauth, the gh stand-in, and jq's when jq is not installed.
func ciBin(t *testing.T) string {
	bin := t.TempDir()
	if err := os.Symlink(twauthBinary(t), filepath.Join(bin, "twauth")); err != nil {
		t.Fatal(err)
	}
	tools := map[string]string{"gh": ghStandIn}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Log("no jq here: the recipe runs with a stand-in (Debian: apt-get install jq)")
		tools["jq"] = jqStandIn
	}
	for name, script := range tools {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// masked checks a job's log as GitHub would show it: each of toks has its
// ::add-mask:: line before any other line that holds it.
func masked(t *testing.T, log string, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		first := true
		for _, l := range strings.Split(log, "\n") {
			if !strings.Contains(l, tok) {
				continue
			}
			if first && l != "::add-mask::"+tok {
				t.Errorf("a token is printed before its ::add-mask:: line:\n%s", log)
			}
			first = false
		}
		if first {
			t.Errorf("no ::add-mask:: line for a rotated token:\n%s", log)
		}
	}
}

func TestCIRecipe(t *testing.T) {
	yaml := ciRecipe(t)
	steps := ciSteps(yaml)
	if len(steps) != 1 || !strings.Contains(steps[0].script, "twauth refresh") {
		t.Fatalf("want one `run: |` step that runs twauth refresh, found %d:\n%q", len(steps), steps)
	}
	// Runs are serialised, and a run is never cancelled mid-refresh.
	if !regexp.MustCompile(`(?m)^ +concurrency: [\w-]+`).MatchString(yaml) {
		t.Errorf("the recipe sets no concurrency group:\n%s", yaml)
	}
	if strings.Contains(yaml, "cancel-in-progress: true") {
		t.Errorf("the recipe cancels a job in progress, which can lose the refresh token:\n%s", yaml)
	}
	bin := ciBin(t)
	const scope = "tweet.read users.read offline.access"

	for _, c := range []xtest.Client{{ID: publicID}, {ID: confID, Secret: confSecret}} {
		t.Run(c.ID, func(t *testing.T) {
			srv := xtest.Start(t, xtest.Options{Clients: []xtest.Client{c}})
			_, seed := srv.IssueTokens(c.ID, scope)
			values := func(refresh string) map[string]string {
				return map[string]string{
					"vars.X_CLIENT_ID":            c.ID,
					"secrets.X_CLIENT_SECRET":     c.Secret, // "" as GitHub gives an unset secret
					"secrets.X_REFRESH_TOKEN":     refresh,
					"secrets.SECRETS_WRITE_TOKEN": "ghp-stand-in",
					"github.repository":           "owner/repo",
				}
			}
			// Two jobs, one after the other: the second spends what the
			// first saved.
			spent := seed
			for run := 1; run <= 2; run++ {
				job := runCIRecipe(t, steps, bin, srv, values(spent))
				if job.code != 0 {
					t.Fatalf("job %d: exit %d\n%s", run, job.code, job.output)
				}
				if len(job.secrets) != 2 || job.secrets[0] != [2]string{"X_REFRESH_TOKEN", spent} || job.secrets[1][0] != "X_REFRESH_TOKEN" {
					t.Fatalf("job %d: gh secret set got %q, want X_REFRESH_TOKEN written back unchanged, then the new one", run, job.secrets)
				}
				saved := job.secrets[1][1]
				if !srv.IsValidRefreshToken(saved) || srv.IsValidRefreshToken(spent) {
					t.Fatalf("job %d: the refresh token saved is not the live one at X (saved live: %v, spent live: %v)", run, srv.IsValidRefreshToken(saved), srv.IsValidRefreshToken(spent))
				}
				if got := srv.CountGrant("refresh_token"); got != run {
					t.Errorf("job %d: X saw %d refreshes in all, want %d", run, got, run)
				}
				cfg, err := os.ReadFile(filepath.Join(job.dir, "Config.toml"))
				if err != nil {
					t.Fatal(err)
				}
				access, ok := strings.CutPrefix(strings.TrimSpace(string(cfg)), `token = "`)
				access, _ = strings.CutSuffix(access, `"`)
				if !ok || !srv.IsValidAccessToken(access) {
					t.Fatalf("job %d: Config.toml holds no live access token:\n%s", run, cfg)
				}
				masked(t, job.output, access, saved)
				// Nothing prints a refresh token but ::add-mask::, nor
				// the client secret.
				for _, l := range strings.Split(job.output, "\n") {
					if strings.Contains(l, saved) && l != "::add-mask::"+saved {
						t.Errorf("job %d: the new refresh token is printed:\n%s", run, job.output)
					}
				}
				for _, s := range []string{spent, confSecret} {
					if strings.Contains(job.output, s) {
						t.Errorf("job %d: the log holds a secret:\n%s", run, job.output)
					}
				}
				spent = saved
			}
		})
	}

	// A token that may not write secrets stops the job before X rotates
	// the refresh token; so does an empty secret.
	for name, tc := range map[string]struct {
		// extra is added to the job's environment; set overrides the
		// values of ${{ }} expressions.
		extra []string
		set   map[string]string
		calls string
	}{
		"no write access": {extra: []string{"GH_STANDIN_DENY=1"}, calls: "1 secret set X_REFRESH_TOKEN\n"},
		"no GH_TOKEN":     {set: map[string]string{"secrets.SECRETS_WRITE_TOKEN": ""}, calls: "1 secret set X_REFRESH_TOKEN\n"},
		"empty secret":    {set: map[string]string{"secrets.X_REFRESH_TOKEN": ""}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := xtest.Start(t, xtest.Options{Clients: []xtest.Client{{ID: publicID}}})
			_, seed := srv.IssueTokens(publicID, scope)
			values := map[string]string{
				"vars.X_CLIENT_ID": publicID, "secrets.X_CLIENT_SECRET": "", "secrets.X_REFRESH_TOKEN": seed,
				"secrets.SECRETS_WRITE_TOKEN": "ghp-stand-in", "github.repository": "owner/repo",
			}
			maps.Copy(values, tc.set)
			job := runCIRecipe(t, steps, bin, srv, values, tc.extra...)
			if job.code == 0 {
				t.Fatalf("the job succeeded:\n%s", job.output)
			}
			if n := srv.Count(xtest.TokenPath); n != 0 {
				t.Errorf("X saw %d token requests, want none: the refresh token was spent", n)
			}
			if !srv.IsValidRefreshToken(seed) {
				t.Error("the refresh token is no longer live")
			}
			if job.calls != tc.calls || len(job.secrets) != 0 {
				t.Errorf("gh calls %q, secrets %q; want calls %q and nothing written", job.calls, job.secrets, tc.calls)
			}
			if _, err := os.Stat(filepath.Join(job.dir, "Config.toml")); err == nil {
				t.Error("Config.toml was written")
			}
			if strings.Contains(job.output, seed) {
				t.Errorf("the log holds the refresh token:\n%s", job.output)
			}
			t.Logf("log:\n%s", job.output)
		})
	}
}
