#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Create the venv that runs the real agentstack peer agent used by the interop tests.
#
# agentstack-sdk 0.7.1 needs mcp<2 (mcp 2.x removed streamablehttp_client) and fastapi<0.145
# (newer fastapi breaks Server.run): see shared PROTOCOL.md §5. a2a-sdk 0.3 and 1.x cannot share a
# venv, so this peer gets its own, built with the machine's python3.
#
# Usage: scripts/peer-venv.sh [VENV_DIR]   (default: .venv-peer-agentstack in the repo root)
# Idempotent: a marker file inside the venv records the pinned spec; when it matches, nothing is done.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo_root/.venv-peer-agentstack}"
python="${PYTHON:-python3}"
spec=(agentstack-sdk==0.7.1 "mcp<2" "fastapi<0.145")
marker="$venv/.keybroker-peer-spec"
want="${spec[*]}"

if [[ -x "$venv/bin/python" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    echo "peer-venv: $venv already has: $want (skipped)"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "peer-venv: creating $venv with $("$python" --version 2>&1) ($(command -v "$python"))"
    "$python" -m venv "$venv"
else
    echo "peer-venv: reusing $venv (spec marker missing or different)"
fi

echo "peer-venv: installing $want"
# This machine's pip config lists local find-links dirs that may not exist: drop those warnings only.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${spec[@]}" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
# Prove the pins hold: agentstack's server must import with this mcp and fastapi.
check='import agentstack_sdk.server, fastapi, importlib.metadata as m
print("peer-venv: import ok: agentstack-sdk", m.version("agentstack-sdk"), "a2a-sdk", m.version("a2a-sdk"),
      "mcp", m.version("mcp"), "fastapi", fastapi.__version__)'
if ! out="$("$venv/bin/python" -c "$check" 2>&1)"; then
    echo "$out" >&2
    echo "peer-venv: agentstack-sdk does not import in $venv" >&2
    exit 1
fi
grep "^peer-venv:" <<<"$out"
printf '%s' "$want" >"$marker"
echo "peer-venv: ready at $venv (python: $venv/bin/python)"
