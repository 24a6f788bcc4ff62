#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Agent Protocol secrets API end to end, with curl and the API token: list, add, replace and
# delete an agent's secrets through the bridge, and see each change in `keybroker secrets list`.
#
# Usage: scripts/ap-demo.sh
# Env: PYTHON (default: .venv/bin/python if present, else python3) must import keybroker.
#
# Everything happens in a throw-away KEYBROKER_HOME with the session-only memory vault, so your own
# vault, config and running instance are never touched: a tiny web server serves a demo agent's
# card, `keybroker agents add` records it, `keybroker serve --headless --port 0` runs the bridge,
# and the token comes from the instance's 0600 token file. Values go to curl on stdin, never argv.
# Exits non-zero at the first surprise; prints what it does on stderr.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$repo_root/.venv/bin/python" ]]; then python="$repo_root/.venv/bin/python"; else python=python3; fi
fi
command -v curl >/dev/null || { echo "ap-demo: curl is needed" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export KEYBROKER_HOME="$work/home" KEYBROKER_VAULT=memory
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY KEYBROKER_PORT
kb() { "$python" -m keybroker "$@"; }
say() { printf '\n== %s\n' "$*" >&2; }
json() { "$python" -c "import json, sys; data = json.load(sys.stdin); print($1)"; }
fail() { echo "ap-demo: FAILED: $*" >&2; exit 1; }

# A demo agent: only its card is needed to add it.
card_port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/site/.well-known"
cat >"$work/site/.well-known/agent-card.json" <<EOF
{"name": "Demo Agent", "description": "AP demo", "version": "1.0.0",
 "url": "http://127.0.0.1:$card_port/", "preferredTransport": "JSONRPC", "protocolVersion": "0.3.0",
 "capabilities": {}, "defaultInputModes": ["text"], "defaultOutputModes": ["text"], "skills": []}
EOF
"$python" -m http.server "$card_port" --bind 127.0.0.1 --directory "$work/site" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$card_port/.well-known/agent-card.json" >/dev/null && break; sleep 0.1; done

say "keybroker agents add (slug demo)"
kb agents add "http://127.0.0.1:$card_port" --slug demo >&2

say "keybroker serve --headless --port 0"
"$python" -m keybroker serve --headless --port 0 </dev/null >/dev/null 2>"$work/serve.log" &
pids+=($!)  # python itself, not a subshell: kill must reach it
url=""
for _ in $(seq 150); do
    url="$(sed -n 's/^listening on //p' "$work/serve.log" | head -n1)"
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || fail "the bridge did not start: $(cat "$work/serve.log")"
token="$(cat "$KEYBROKER_HOME/config/api-token")"
ap="$url/agents/demo/ap/v1/agent/secrets"
echo "bridge at $url; AP API at $ap" >&2

api() {  # api METHOD URL [BODY on stdin]: prints the body, then the status on its own line
    local method="$1" target="$2"
    shift 2
    curl -sS -X "$method" -H "Authorization: Bearer $token" -w '\n%{http_code}' "$@" "$target"
}
secrets_list() { kb secrets list --json | json '",".join(s["key"] + "@" + str(s["owner"]) for s in data)'; }

say "no token: 401"
code="$(curl -s -o /dev/null -w "%{http_code}" "$ap")"
[[ "$code" == 401 ]] || fail "expected 401 without the token, got $code"

say "GET (listAgentSecretKeys)"
out="$(api GET "$ap")"; echo "$out" >&2
[[ "$(tail -n1 <<<"$out")" == 200 && "$(head -n1 <<<"$out")" == '{"secrets":[]}' ]] || fail "list"

say "POST (addAgentSecret) OPENAI_API_KEY"
out="$(printf '{"secret_key": "OPENAI_API_KEY", "secret_value": "sk-demo-first"}' |
    api POST "$ap" -H 'Content-Type: application/json' --data-binary @-)"
echo "$out" >&2
[[ "$(tail -n1 <<<"$out")" == 200 ]] || fail "add"
secret_id="$(head -n1 <<<"$out" | json 'data["secret_id"]')"
[[ "$(secrets_list)" == "OPENAI_API_KEY@demo" ]] || fail "secrets list after add: $(secrets_list)"
echo "keybroker secrets list: $(secrets_list)" >&2

say "POST again: replaced, same secret_id"
out="$(printf '{"secret_key": "OPENAI_API_KEY", "secret_value": "sk-demo-second"}' |
    api POST "$ap" -H 'Content-Type: application/json' --data-binary @-)"
[[ "$(head -n1 <<<"$out" | json 'data["secret_id"]')" == "$secret_id" ]] || fail "replace kept no id"

say "bad body: 422 naming the field, nothing stored"
out="$(printf '{"secret_key": "NO_VALUE"}' | api POST "$ap" -H 'Content-Type: application/json' --data-binary @-)"
[[ "$(tail -n1 <<<"$out")" == 422 && "$(head -n1 <<<"$out")" == *secret_value* ]] || fail "422"

say "GET lists it"
out="$(api GET "$ap")"; echo "$out" >&2
[[ "$(head -n1 <<<"$out" | json 'data["secrets"][0]["secret_key"]')" == OPENAI_API_KEY ]] || fail "list"

say "DELETE (deleteAgentSecret) $secret_id"
out="$(api DELETE "$ap/$secret_id")"
[[ "$(tail -n1 <<<"$out")" == 204 ]] || fail "delete: $out"
[[ -z "$(secrets_list)" ]] || fail "secrets list after delete: $(secrets_list)"
out="$(api DELETE "$ap/$secret_id")"
[[ "$(tail -n1 <<<"$out")" == 404 ]] || fail "second delete should be 404"

say "the audit has every step"
kb audit --json | json '" ".join(e["decision"] for e in data if e["agent"] == "demo")' >&2
echo "ap-demo: OK" >&2
