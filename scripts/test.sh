#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What `make test` (and CI through .ci/run) runs, stage by stage, each one timed (DESIGN.md §6).
#
#   system-deps  Debian packages, only the missing ones          scripts/system-deps.sh
#   venv         .venv with `-e .[test]`, only when pyproject changed   scripts/venv.sh
#   peer-venv    .venv-peer-agentstack for the interop tests     scripts/peer-venv.sh
#   peers        OpenBao, LiteLLM proxy, oidc-provider, @a2a-js/sdk 0.3 + 1.x: the real servers features are
#                tested against, cached (.venv-peer-*, .cache/peers)  scripts/peers/*.sh
#   lint         ruff + mypy                                     scripts/lint.sh
#   pytest       inside a private Secret Service session         scripts/secret-service-session.sh
#                (every test but the `cluster` ones; two shards side by side, each in its own session;
#                the interop tests where the bridge path matters run again on the full path)
#   cluster      a real three-node OpenBao raft cluster, its leader killed   scripts/test-cluster.sh
#   package-test build, install, run and remove the .deb          scripts/package-test.sh
#                (only as root or with sudo -n; otherwise it says it is skipped)
#
# A failing setup stage stops the run; a failing lint still lets pytest run, and the run fails at the end.
# Env: PYTHON, VENV, PEER_VENV, PYTEST_ARGS (extra pytest arguments, split on spaces),
# KEYBROKER_TEST_BUDGET (seconds pytest may take when not on a terminal, default 1500; 0 = no limit),
# KEYBROKER_TEST_SHARDS (2 by default; 1 runs the suite as one process).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
# Every Python the suite starts (CLI calls, agents, servers) recompiles Keybroker's own modules when the
# environment sets PYTHONDONTWRITEBYTECODE (CI here does): ~80 ms a start, hundreds of starts. The caches
# land in the git-ignored __pycache__ directories.
unset PYTHONDONTWRITEBYTECODE
venv="${VENV:-.venv}"
peer_venv="${PEER_VENV:-.venv-peer-agentstack}"
export VENV="$venv"
abs() { if [[ "$1" == /* ]]; then printf '%s' "$1"; else printf '%s' "$repo_root/$1"; fi; }

now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t_all="$(now)"
summary=()
failed=()
# The tests that failed, repeated at the very end: CI keeps only the tail of a long log.
failed_tests=()

# stage NAME CMD...: run CMD, print how long it took; returns CMD's status.
stage() {
    local name="$1" t rc=0
    shift
    echo "==> $name"
    t="$(now)"
    "$@" || rc=$?
    local took
    took="$(elapsed "$t")"
    if ((rc == 0)); then
        echo "==> $name: $took s"
        summary+=("$(printf '%-12s %8s s' "$name" "$took")")
    else
        echo "==> $name: FAILED (exit $rc) after $took s"
        summary+=("$(printf '%-12s %8s s   FAILED (exit %s)' "$name" "$took" "$rc")")
        failed+=("$name")
    fi
    return "$rc"
}

finish() {
    echo
    echo "==> stage times"
    printf '    %s\n' "${summary[@]}"
    echo "==> total: $(elapsed "$t_all") s"
    if ((${#failed_tests[@]})); then
        echo "==> failed tests"
        printf '    %s\n' "${failed_tests[@]}"
    fi
    if ((${#failed[@]})); then
        echo "==> FAILED: ${failed[*]}"
        exit 1
    fi
    echo "==> all stages passed"
}

setup_or_stop() { stage "$@" || finish; }

setup_or_stop system-deps bash scripts/system-deps.sh
setup_or_stop venv bash scripts/venv.sh "$venv" test
setup_or_stop peer-venv bash scripts/peer-venv.sh "$peer_venv"
setup_or_stop peers bash scripts/peers/all.sh
stage lint bash scripts/lint.sh || true

# The suite spends most of its time waiting (agents, servers and browsers starting, timeouts), so the
# default run is two shards side by side, each in its own D-Bus session with its own gnome-keyring
# and its own temporary directory: nothing is shared between them but the machine. PYTEST_ARGS set
# (e.g. `-k vault -x`): one run, as asked. KEYBROKER_TEST_SHARDS=1: one run of everything.
SHARD_A=(tests/interop tests/vault tests/peers tests/bench)
# Shard (a)'s async tests run on uvloop, the loop `keybroker serve` runs the bridge on where it is
# installed (Linux, macOS); shard (b), with tests/bridge, on asyncio's own loop (Windows, and the
# fallback). tests/conftest.py reads KEYBROKER_TEST_LOOP.
SHARD_A_LOOP=uvloop
# Then, in shard (a)'s process after it, the interop tests where the bridge path matters run again on the
# full path (KEYBROKER_BRIDGE_PATH=full; issue 16: both paths pass the same interop tests) and on asyncio's
# loop: real agents whose plain secrets demands the fast path serves by default. Card schemes, sign-ins and
# model demands always take the full path, so their tests are not repeated; `make test-bridge-paths` runs
# all of tests/bridge and tests/interop on each path.
FULL_PATH_TESTS=()
for name in bridge_a2a1 bridge_a2a_js bridge_agentstack bridge_load decline_resume release_audit task_grants_live \
    fast_resume_live agent_port agent_port_serve cli_serve_send bridged_url conformance_params push_secrets cards_live; do
    FULL_PATH_TESTS+=("tests/interop/test_$name.py")
done

# pytest_in_session BASETEMP ARGS...: pytest inside a private Secret Service session.
pytest_in_session() {
    local basetemp="$1"
    shift
    "${cap[@]}" env \
        PATH="$(abs "$venv")/bin:$PATH" \
        QT_QPA_PLATFORM=offscreen \
        KEYBROKER_PEER_PYTHON="$(abs "$peer_venv")/bin/python" \
        KEYBROKER_TEST_SECRET_SERVICE=1 \
        bash scripts/secret-service-session.sh \
        "$(abs "$venv")/bin/python" -m pytest --basetemp="$basetemp" --durations=15 -m "not cluster" "$@"
}

# explain RC: what an exit status of pytest means here.
explain() {
    case "$1" in
        5) echo "pytest: no tests were collected (exit 5): that is a failure here" >&2 ;;
        124 | 137) echo "pytest: stopped after its budget of $budget s (KEYBROKER_TEST_BUDGET)" >&2 ;;
    esac
}

# note_failures LOG SHARD: keep pytest's FAILED/ERROR summary lines (cut to 300 characters) for finish.
note_failures() {
    local line
    while IFS= read -r line; do
        failed_tests+=("${2:+$2 }${line:0:300}")
    done < <(grep -E '^(FAILED|ERROR) ' "$1" || true)
}

run_pytest() {
    local budget="${KEYBROKER_TEST_BUDGET:-1500}" args=() rc=0 rc_a=0 rc_b=0 work ignores=() dir
    cap=()
    read -ra args <<<"${PYTEST_ARGS:-}"
    # A hard cap keeps CI under its 30 minutes. Only off a terminal: `timeout` puts the run in its own
    # process group, where Ctrl-C would not reach it.
    if ((budget > 0)) && [[ ! -t 0 ]]; then
        cap=(timeout --kill-after=30 "$budget")
    fi
    work="$(mktemp -d "${TMPDIR:-/tmp}/keybroker-pytest.XXXXXX")"
    if ((${#args[@]} > 0)) || [[ "${KEYBROKER_TEST_SHARDS:-2}" == 1 ]]; then
        pytest_in_session "$work/all" "${args[@]}" 2>&1 | tee "$work/all.log" || rc=$?
        note_failures "$work/all.log" ""
        explain "$rc"
        rm -rf "$work"
        return "$rc"
    fi
    for dir in "${SHARD_A[@]}"; do ignores+=(--ignore="$dir"); done
    echo "pytest: two shards side by side: (a) ${SHARD_A[*]} on $SHARD_A_LOOP, then the interop tests where the" \
        "bridge path matters on the full path; (b) the rest on asyncio"
    (
        rc=0
        KEYBROKER_TEST_LOOP="$SHARD_A_LOOP" pytest_in_session "$work/a" "${SHARD_A[@]}" >"$work/a.log" 2>&1 || rc=$?
        KEYBROKER_BRIDGE_PATH=full KEYBROKER_TEST_LOOP=asyncio \
            pytest_in_session "$work/full" "${FULL_PATH_TESTS[@]}" >"$work/full.log" 2>&1 || echo $? >"$work/full.rc"
        exit "$rc"
    ) &
    local pid_a=$!
    pytest_in_session "$work/b" tests "${ignores[@]}" >"$work/b.log" 2>&1 || rc_b=$?
    wait "$pid_a" || rc_a=$?
    local rc_full
    rc_full="$(cat "$work/full.rc" 2>/dev/null || echo 0)"
    echo "==> pytest shard (a): ${SHARD_A[*]} (KEYBROKER_TEST_LOOP=$SHARD_A_LOOP)"
    cat "$work/a.log"
    explain "$rc_a"
    echo "==> pytest shard (a), then: the interop tests where the bridge path matters (KEYBROKER_BRIDGE_PATH=full, asyncio)"
    cat "$work/full.log"
    explain "$rc_full"
    echo "==> pytest shard (b): the rest"
    cat "$work/b.log"
    explain "$rc_b"
    note_failures "$work/a.log" "(a)"
    note_failures "$work/full.log" "(a, full path)"
    note_failures "$work/b.log" "(b)"
    rm -rf "$work"
    if ((rc_a != 0)); then return "$rc_a"; fi
    if ((rc_full != 0)); then return "$rc_full"; fi
    return "$rc_b"
}
stage pytest run_pytest || true
stage cluster bash scripts/test-cluster.sh || true
stage package-test bash scripts/package-test.sh || true

finish
