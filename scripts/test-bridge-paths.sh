#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bridge and interop tests against each bridge path (issue 16): the fast path (the default) and the
# full path (KEYBROKER_BRIDGE_PATH=full), each timed, in a private Secret Service session like `make test`;
# `all` also runs the fast path on uvloop (KEYBROKER_TEST_LOOP=uvloop), the loop `keybroker serve` uses
# (the suite's async tests otherwise run on asyncio's own loop).
#
# Usage: scripts/test-bridge-paths.sh [fast|full|uvloop|both|all]   (default both; `make test-bridge-paths`: all)
# Env: VENV, PEER_VENV, PYTEST_ARGS (extra pytest arguments, split on spaces).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv="${VENV:-.venv}"
peer_venv="${PEER_VENV:-.venv-peer-agentstack}"
abs() { if [[ "$1" == /* ]]; then printf '%s' "$1"; else printf '%s' "$repo_root/$1"; fi; }
which="${1:-both}"
case "$which" in
    fast) paths=(fast) ;;
    full) paths=(full) ;;
    uvloop) paths=(uvloop) ;;
    both) paths=(fast full) ;;
    all) paths=(fast full uvloop) ;;
    *) echo "usage: $0 [fast|full|uvloop|both|all]" >&2; exit 2 ;;
esac
read -ra args <<<"${PYTEST_ARGS:-}"

failed=()
for path in "${paths[@]}"; do
    bridge_path="$path" loop=asyncio
    if [[ "$path" == uvloop ]]; then bridge_path=fast loop=uvloop; fi
    echo "==> tests/bridge tests/interop, KEYBROKER_BRIDGE_PATH=$bridge_path, KEYBROKER_TEST_LOOP=$loop"
    start="$EPOCHREALTIME"
    rc=0
    env PATH="$(abs "$venv")/bin:$PATH" \
        QT_QPA_PLATFORM=offscreen \
        KEYBROKER_BRIDGE_PATH="$bridge_path" \
        KEYBROKER_TEST_LOOP="$loop" \
        KEYBROKER_PEER_PYTHON="$(abs "$peer_venv")/bin/python" \
        KEYBROKER_TEST_SECRET_SERVICE=1 \
        bash scripts/secret-service-session.sh \
        "$(abs "$venv")/bin/python" -m pytest -q -p no:cacheprovider tests/bridge tests/interop "${args[@]}" || rc=$?
    took="$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')"
    echo "==> $path: exit $rc after $took s"
    ((rc == 0)) || failed+=("$path")
done
if ((${#failed[@]})); then
    echo "==> FAILED on: ${failed[*]}"
    exit 1
fi
echo "==> passed on: ${paths[*]}"
