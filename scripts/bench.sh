#!/usr/bin/env bash
# `make bench`: the app-level benchmarks, one after another (about 10 minutes on the 2-core machines):
#   bench/prompt_latency.py  prompt on screen after the request (DESIGN §7: p95 <= 300 ms), Xvfb + trayer
#   bench/memory.py          cold start to the tray icon and to the bridge answering, idle RSS
#   bench/bridge.py --loops  the bridge against direct and a pass-through, on uvloop+httptools and asyncio+h11
#   bench/audit_head.py      the audit head's vault writes under a stream of releases, on a private
#                            gnome-keyring (the rig's Secret Service session): app and daemon CPU per release
# Numbers only: a benchmark never asserts. Needs Xvfb, trayer and xev (`make deps`).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
bash scripts/venv.sh "$VENV" test
py="$VENV/bin/python"
# Bytecode as an installed app has it: a venv that may not write .pyc files compiles every module
# at every start, which is not what a user's start costs.
unset PYTHONDONTWRITEBYTECODE
for step in "bench/prompt_latency.py --requests 20" "bench/memory.py --runs 3" "bench/bridge.py --loops"; do
    started=$SECONDS
    echo "== $step"
    # shellcheck disable=SC2086  # the step's words are its arguments
    "$py" $step
    echo "== $step: $((SECONDS - started)) s"
done
started=$SECONDS
echo "== bench/audit_head.py"
bash scripts/secret-service-session.sh "$py" bench/audit_head.py
echo "== bench/audit_head.py: $((SECONDS - started)) s"
