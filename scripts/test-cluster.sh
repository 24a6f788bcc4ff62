#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The multi-node tests (`-m cluster`): a real three-node OpenBao raft cluster on loopback, its leader
# killed while Keybroker writes and reads (tests/vault/openbao/test_raft_failover.py). `make test-cluster`
# runs them alone; `make test` runs them as its `cluster` stage, after the main pytest stage (which
# deselects them: three `bao` processes and an election do not belong among the quick tests).
# Needs the venv (scripts/venv.sh VENV test) and the OpenBao cache (scripts/peers/openbao.sh).
# Env: VENV, PYTEST_ARGS (extra pytest arguments, split on spaces).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv="${VENV:-.venv}"
[[ "$venv" == /* ]] || venv="$repo_root/$venv"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "test-cluster: error: $venv/bin/python not found; run: scripts/venv.sh $venv test" >&2
    exit 1
fi
args=()
read -ra args <<<"${PYTEST_ARGS:-}"
rc=0
env PATH="$venv/bin:$PATH" QT_QPA_PLATFORM=offscreen KEYBROKER_TEST_SECRET_SERVICE=1 \
    bash scripts/secret-service-session.sh \
    "$venv/bin/python" -m pytest -m cluster -s -p no:cacheprovider "${args[@]}" tests/vault/openbao || rc=$?
if ((rc == 5)); then
    echo "test-cluster: no cluster test was collected (exit 5): that is a failure here" >&2
fi
exit "$rc"
