#!/usr/bin/env bash
# Whole-process figures of BENCHMARKS.md, measured with hyperfine and GNU
# time against twauth-dev on loopback. Usage: scripts/bench-process.sh [BIN]
# (default bin, as `make build` leaves it). Needs hyperfine, GNU time
# (/usr/bin/time) and curl. RUNS sets hyperfine's run count (default 300).
set -euo pipefail
umask 077

bin=$(cd "${1:-bin}" && pwd)
runs=${RUNS:-300}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/twauth-dev" serve --addr 127.0.0.1:0 --redirect-uri http://127.0.0.1:8765/callback \
	--ready-file "$work/ready" >"$work/endpoints" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.05; done
[ -s "$work/ready" ] || { cat "$work/server.log"; echo "bench: twauth-dev did not start" >&2; exit 1; }
base="http://$(head -n1 "$work/ready")"

printf 'clientId = "twauth-dev-client"\n' >"$work/Config.toml"
export TWAUTH_AUTH_URL="$base/i/oauth2/authorize" TWAUTH_TOKEN_URL="$base/2/oauth2/token" \
	TWAUTH_REVOKE_URL="$base/2/oauth2/revoke" TWAUTH_API_URL="$base" \
	TWAUTH_CONFIG="$work/Config.toml" TWAUTH_STORE="$work/tokens.json"
login=("$bin/twauth" login --browser "$bin/twauth-dev browse")

# One login to have a valid token (2 h) in the store.
"${login[@]}" 2>/dev/null

# The hello-world Go binary: the floor of any Go program's start.
mkdir "$work/hello"
printf 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hi\\n") }\n' >"$work/hello/main.go"
(cd "$work/hello" && go mod init hello >/dev/null 2>&1 && CGO_ENABLED=0 go build -o hello .)

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(uname -sr); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(go version); binary: $(stat -c %s "$bin/twauth") bytes"

echo "== twauth token with a valid stored token (client id from Config.toml), against cat and hello"
hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/token.json" \
	"cat $work/tokens.json" "$work/hello/hello" "$bin/twauth token" "$bin/twauth token --client-id twauth-dev-client"
python3 - "$work/token.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
cat = r[0]["median"]
for x in r:
    print("median %7.2f ms  %4.2fx cat  %s" % (x["median"] * 1e3, x["median"] / cat, x["command"]))
EOF

echo "== twauth login with an HTTP browser, against two bare HTTP requests (one curl)"
q="response_type=code&client_id=twauth-dev-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=tweet.read&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
bare="curl -s -o /dev/null $TWAUTH_AUTH_URL?$q --next -s -o /dev/null -d grant_type=authorization_code&code=x&client_id=twauth-dev-client $TWAUTH_TOKEN_URL"
hyperfine -N --warmup 5 --runs "$((runs / 3))" --export-json "$work/login.json" \
	"$bare" \
	"$bin/twauth login --browser '$bin/twauth-dev browse'"
python3 - "$work/login.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
bare = r[0]["median"]
for x in r:
    print("median %7.2f ms  %5.2fx bare  %s" % (x["median"] * 1e3, x["median"] / bare, x["command"]))
EOF

echo "== peak RSS (GNU time -v), median of 11"
for cmd in token login; do
	for _ in $(seq 11); do
		if [ $cmd = token ]; then
			/usr/bin/time -v "$bin/twauth" token 2>&1 >/dev/null | awk '/Maximum resident/ {print $6}'
		else
			/usr/bin/time -v "${login[@]}" 2>&1 >/dev/null | awk '/Maximum resident/ {print $6}'
		fi
	done | sort -n | sed -n 6p | awk -v c=$cmd '{printf "twauth %s: %d KiB (%.1f MiB)\n", c, $1, $1 / 1024}'
done
