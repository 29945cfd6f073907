#!/usr/bin/env bash
# A whole twauth login against twauth-dev, the fake X server, on loopback.
# With a desktop it opens your browser on the fake consent page; without one
# (SSH, a container, CI) a scripted browser (twauth-dev browse) clicks for you.
set -euo pipefail
umask 077

bin=$(cd "${1:-bin}" && pwd)
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/twauth-dev" serve --addr 127.0.0.1:0 --redirect-uri http://127.0.0.1:8765/callback \
	--ready-file "$work/ready" >"$work/endpoints" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.05; done
[ -s "$work/ready" ] || { cat "$work/server.log"; echo "demo: twauth-dev did not start" >&2; exit 1; }
base="http://$(head -n1 "$work/ready")"

cat >"$work/Config.toml" <<TOML
# Config.toml of a Ballerina program (see Config.toml.example).
clientId = "twauth-dev-client"

[myorg.tweets]
maxResults = 10 # twauth leaves every other line as it is
TOML

export TWAUTH_AUTH_URL="$base/i/oauth2/authorize" TWAUTH_TOKEN_URL="$base/2/oauth2/token" \
	TWAUTH_REVOKE_URL="$base/2/oauth2/revoke" TWAUTH_API_URL="$base" \
	TWAUTH_CONFIG="$work/Config.toml" TWAUTH_STORE="$work/tokens.json"

browser=()
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" != Darwin ] || [ -n "${SSH_CONNECTION:-}" ] || [ -n "${CI:-}" ]; then
	echo "demo: no desktop here, so twauth-dev browse plays the browser" >&2
	browser=(--browser "$bin/twauth-dev browse")
fi

echo "\$ twauth login" >&2
"$bin/twauth" login "${browser[@]}"
echo >&2
echo "\$ cat Config.toml" >&2
cat "$work/Config.toml"
echo >&2
echo "\$ twauth status" >&2
"$bin/twauth" status
echo >&2
echo "\$ twauth refresh && twauth token" >&2
"$bin/twauth" refresh
"$bin/twauth" token
echo >&2
echo "\$ twauth revoke" >&2
"$bin/twauth" revoke
echo "demo: done; everything it wrote was in $work and is removed" >&2
