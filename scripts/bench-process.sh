#!/usr/bin/env bash
# Whole-process figures of BENCHMARKS.md: hyperfine and GNU time against
# twauth-dev on loopback. Usage, from the repository root after `make build`:
#
#	scripts/bench-process.sh [BIN]                 # BIN: twauth and twauth-dev (default bin)
#	XURL=/path/to/xurl scripts/bench-process.sh     # several: XURL="/a/xurl /b/xurl"
#
# It measures, each comparison in one hyperfine run: `twauth token` (valid
# stored token) and `twauth refresh` beside a 200-byte and a 1 MB
# Config.toml; the token fast path against `cat` of the store, a hello-world
# Go binary, the same importing net/http, and two other builds of twauth
# (the default cgo `go build`, and a static one without -s -w); peak RSS;
# binary sizes.
#
# RUNS sets hyperfine's runs per command (default 200), ROUNDS how many
# times each comparison is repeated, the order of its commands reversed
# every other round (default 2). XURL adds `xurl token` (X's own CLI,
# github.com/xdevplatform/xurl) reading a token seeded in a temporary HOME;
# OTHER="/a/twauth …" adds other builds of twauth (an earlier commit, say),
# on the same store. ETCD=/path/to/etcd (Debian's etcd-server) starts a
# single etcd on loopback and adds `twauth token` and `twauth refresh` with
# the store in etcd beside the same with the store in a file. Needs
# hyperfine, GNU time (/usr/bin/time), python3, go.
set -euo pipefail
umask 077

bin=$(cd "${1:-bin}" && pwd)
runs=${RUNS:-200}
rounds=${ROUNDS:-2}
read -r -a xurls <<<"${XURL:-}"
read -r -a others <<<"${OTHER:-}"
work=$(mktemp -d)
server='' etcd=''
trap 'for p in $server $etcd; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

"$bin/twauth-dev" serve --addr 127.0.0.1:0 --redirect-uri http://127.0.0.1:8765/callback --quiet \
	--ready-file "$work/ready" >"$work/endpoints" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.05; done
[ -s "$work/ready" ] || { cat "$work/server.log"; echo "bench: twauth-dev did not start" >&2; exit 1; }
base="http://$(head -n1 "$work/ready")"
export TWAUTH_AUTH_URL="$base/i/oauth2/authorize" TWAUTH_TOKEN_URL="$base/2/oauth2/token" \
	TWAUTH_REVOKE_URL="$base/2/oauth2/revoke" TWAUTH_API_URL="$base"
unset TWAUTH_CONFIG TWAUTH_STORE TWAUTH_CLIENT_ID BAL_CONFIG_FILES

# A Config.toml of at least $1 bytes: clientId and token at the top, then
# module tables of keys (the same file as genConfigToml in
# internal/cli/repro12_test.go).
gen_config() {
	awk -v size="$1" 'BEGIN {
		s = "clientId = \"twauth-dev-client\"\ntoken = \"\"\n"; printf "%s", s; n = length(s)
		for (i = 0; n < size; i++) {
			t = sprintf("\n[org%d.module%d]\nurl = \"https://api.example.com/v%d\"\ntimeout = %d\n", i % 97, i, i, 30 + i % 10)
			printf "%s", t; n += length(t)
		}
	}'
}

# Two worlds, each its own Config.toml and store, each logged in once so
# that the store holds a valid token (2 h).
for w in small:200 big:1048576; do
	name=${w%%:*}
	mkdir "$work/$name"
	gen_config "${w#*:}" >"$work/$name/Config.toml"
	"$bin/twauth" login --config "$work/$name/Config.toml" --store "$work/$name/tokens.json" \
		--browser "$bin/twauth-dev browse" 2>/dev/null
done
tw_small=(--config "$work/small/Config.toml" --store "$work/small/tokens.json")
tw_big=(--config "$work/big/Config.toml" --store "$work/big/tokens.json")

# The floors: a hello-world Go binary, and the same importing net/http (the
# package inits that any binary able to log in pays).
for p in hello:'"os"' nethttp:'"os"; _ "net/http"'; do
	mkdir "$work/${p%%:*}"
	printf 'package main\n\nimport (%s)\n\nfunc main() { os.Stdout.WriteString("hi\\n") }\n' "${p#*:}" >"$work/${p%%:*}/main.go"
	(cd "$work/${p%%:*}" && go mod init floor >/dev/null 2>&1 && CGO_ENABLED=0 go build -o floor .)
done

# The default `go build` (cgo, linked to libc) and a static build with the
# symbol table (no -s -w) beside `make build`'s binary, when run from the
# repository.
cgo_cmds=()
if [ -f go.mod ] && [ -d cmd/twauth ]; then
	go build -o "$work/cgo/twauth" ./cmd/twauth
	CGO_ENABLED=0 go build -trimpath -o "$work/static/twauth" ./cmd/twauth
	cgo_cmds=("$work/cgo/twauth token ${tw_small[*]}" "$work/static/twauth token ${tw_small[*]}")
fi

echo "== machine: $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(uname -sr)"
echo "== $(go version); $(hyperfine --version); twauth $("$bin/twauth" version 2>/dev/null | head -n1)"
echo "== Config.toml: $(stat -c %s "$work/small/Config.toml") and $(stat -c %s "$work/big/Config.toml") bytes after login; tokens.json $(stat -c %s "$work/small/tokens.json") bytes"

# The summary of one hyperfine run: each median, with its ratio to each
# command of REFS.
cat >"$work/summary.py" <<'EOF'
import json, sys
res, work, refs, cmds = json.load(open(sys.argv[1]))["results"], sys.argv[2], sys.argv[3], sys.argv[4:]
median = {x["command"]: x["median"] for x in res}
refs = [cmds[int(i)] for i in refs.split(",")]
short = lambda c: c.replace(work, "$work")
for i, r in enumerate(refs):
    print("  ratio column %d: x %s" % (i + 1, short(r)))
for x in res:
    ratios = "".join("  %5.2fx" % (x["median"] / median[r]) for r in refs)
    print("  median %7.2f ms  (mean %6.2f ± %5.2f)%s  %s" % (
        x["median"] * 1e3, x["mean"] * 1e3, x["stddev"] * 1e3, ratios, short(x["command"])))
EOF

# compare LABEL REFS CMD... runs hyperfine on the commands $rounds times, the
# order reversed every other round, and prints each median with its ratio
# to each command of REFS (indexes into CMD..., from 0, comma-separated).
compare() {
	local label=$1 refs=$2
	shift 2
	local cmds=("$@") round i
	for round in $(seq "$rounds"); do
		local order=("${cmds[@]}")
		if [ $((round % 2)) -eq 0 ]; then
			order=()
			for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do order+=("${cmds[i]}"); done
		fi
		echo "== $label, round $round of $rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)"
		# hyperfine's warnings (outliers, a slow first run) go to a file: on
		# a shared machine every round has them, and the medians are what
		# is compared.
		hyperfine -N --warmup 20 --runs "$runs" --style none --export-json "$work/h.json" "${order[@]}" \
			>/dev/null 2>"$work/h.err" || { cat "$work/h.err" >&2; return 1; }
		python3 "$work/summary.py" "$work/h.json" "$work" "$refs" "${cmds[@]}"
	done
	echo "   (n = $runs per command and round)"
}

cat_store="cat $work/small/tokens.json"
other_cmds=("${cgo_cmds[@]}")
for o in "${others[@]}"; do other_cmds+=("$o token ${tw_small[*]}"); done
compare "twauth token, valid stored token: 1 MB vs 200 B Config.toml (target 1MB <= 1.2x)" 1,0 \
	"$cat_store" "$bin/twauth token ${tw_small[*]}" "$bin/twauth token ${tw_big[*]}"

compare "twauth refresh at twauth-dev: 1 MB vs 200 B Config.toml (target 1MB <= 4x)" 0 \
	"$bin/twauth refresh ${tw_small[*]}" "$bin/twauth refresh ${tw_big[*]}"

if [ ${#xurls[@]} -gt 0 ]; then
	# xurl keeps its apps and tokens in ~/.xurl/auth.yml; `xurl token` prints
	# the stored OAuth 2.0 access token while it is valid, without network.
	mkdir -p "$work/home/.xurl"
	exp=$(($(date +%s) + 7200))
	cat >"$work/home/.xurl/auth.yml" <<EOF
apps:
    default:
        client_id: twauth-dev-client
        client_secret: ""
        default_user: bench
        oauth2_tokens:
            bench:
                type: oauth2
                oauth2:
                    access_token: $(head -c 60 /dev/urandom | base64 -w0 | tr '+/' '-_')
                    refresh_token: $(head -c 60 /dev/urandom | base64 -w0 | tr '+/' '-_')
                    expiration_time: $exp
default_app: default
EOF
	xurl_cmds=()
	for x in "${xurls[@]}"; do
		HOME="$work/home" "$x" token >/dev/null || { echo "bench: $x token failed" >&2; exit 1; }
		xurl_cmds+=("$x token")
	done
	refs=0
	for ((i = 0; i < ${#xurls[@]}; i++)); do refs+=",$((4 + i))"; done
	HOME="$work/home" compare "token fast path against xurl token (targets: <= 0.8x xurl, <= 2.5x cat of the store)" "$refs" \
		"$cat_store" "cat $work/home/.xurl/auth.yml" "$work/hello/floor" "$work/nethttp/floor" \
		"${xurl_cmds[@]}" "$bin/twauth token ${tw_small[*]}" "$bin/twauth token --client-id twauth-dev-client --store $work/small/tokens.json" \
		"${other_cmds[@]}"
else
	compare "token fast path against cat and the floors (target <= 2.5x cat of the store)" 0 \
		"$cat_store" "$work/hello/floor" "$work/nethttp/floor" "$bin/twauth token ${tw_small[*]}" "${other_cmds[@]}"
fi

if [ -n "${ETCD:-}" ]; then
	# One etcd member on two free loopback ports, its data in $work.
	read -r cport pport < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
	"$ETCD" --name bench --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$cport" \
		--advertise-client-urls "http://127.0.0.1:$cport" --listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "bench=http://127.0.0.1:$pport" \
		>"$work/etcd.log" 2>&1 &
	etcd=$!
	for _ in $(seq 100); do
		python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$cport/health', timeout=1)" 2>/dev/null && break
		sleep 0.1
	done
	mkdir "$work/etcdw"
	gen_config 200 >"$work/etcdw/Config.toml"
	tw_etcd=(--config "$work/etcdw/Config.toml" --store "etcd://127.0.0.1:$cport/twauth-bench")
	"$bin/twauth" login "${tw_etcd[@]}" --browser "$bin/twauth-dev browse" 2>/dev/null ||
		{ cat "$work/etcd.log"; echo "bench: login with the store in etcd failed" >&2; exit 1; }
	echo "== etcd: $("$ETCD" --version | head -n1), one member on 127.0.0.1:$cport"
	compare "the store in etcd against a file (200 B Config.toml)" 1,3 \
		"$cat_store" "$bin/twauth token ${tw_small[*]}" "$bin/twauth token ${tw_etcd[*]}" \
		"$bin/twauth refresh ${tw_small[*]}" "$bin/twauth refresh ${tw_etcd[*]}"
fi

echo "== peak RSS (GNU time -v, maximum resident set size), median of 11"
rss() {
	local label=$1
	shift
	for _ in $(seq 11); do
		/usr/bin/time -v "$@" 2>&1 >/dev/null | awk '/Maximum resident/ {print $6}'
	done | sort -n | sed -n 6p | awk -v l="$label" '{printf "  %-32s %6d KiB (%.1f MiB)\n", l, $1, $1 / 1024}'
}
rss "twauth token (200 B)" "$bin/twauth" token "${tw_small[@]}"
rss "twauth token (1 MB)" "$bin/twauth" token "${tw_big[@]}"
rss "twauth refresh (200 B)" "$bin/twauth" refresh "${tw_small[@]}"
rss "twauth refresh (1 MB)" "$bin/twauth" refresh "${tw_big[@]}"
for x in "${xurls[@]}"; do HOME="$work/home" rss "xurl token ($(basename "$x"))" "$x" token; done
if [ -n "$etcd" ]; then
	rss "twauth token (etcd store)" "$bin/twauth" token "${tw_etcd[@]}"
fi
rss "hello + net/http" "$work/nethttp/floor"

echo "== binary size"
size() { printf '  %-48s %9d bytes\n' "$1" "$(stat -c %s "$2")"; }
if [ ${#cgo_cmds[@]} -gt 0 ]; then
	size "go build ./cmd/twauth" "$work/cgo/twauth"
	size "CGO_ENABLED=0 go build -trimpath ./cmd/twauth" "$work/static/twauth"
fi
size "$bin/twauth" "$bin/twauth"
for x in "${xurls[@]}"; do size "$x" "$x"; done
