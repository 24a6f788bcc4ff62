#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make screenshots`: the tray app under Xvfb with trayer as tray host, a throw-away Keybroker home and the
# memory vault, driven by scripts/screenshots.py to every window and prompt; PNGs go to docs/screenshots/.
#
# Env: PYTHON (default .venv/bin/python, else python3), OUT (default docs/screenshots), SIZE (1280x800x24).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "${VENV:-.venv}/bin/python" ]]; then python="${VENV:-.venv}/bin/python"; else python=python3; fi
fi
out="${OUT:-docs/screenshots}"
size="${SIZE:-1280x800x24}"

for tool in Xvfb trayer; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "screenshots: $tool is missing (make deps installs xvfb and trayer)" >&2
        exit 1
    fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/keybroker-shots.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Xvfb picks a free display number and writes it to the fd we give it (here: a file).
Xvfb -displayfd 3 -screen 0 "$size" -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
pids+=("$!")
for _ in $(seq 100); do [[ -s "$work/display" ]] && break; sleep 0.05; done
display=":$(head -n1 "$work/display")"
if [[ "$display" == ":" ]]; then
    echo "screenshots: Xvfb did not start:" >&2
    cat "$work/xvfb.log" >&2
    exit 1
fi

DISPLAY="$display" trayer --edge top --align right --widthtype pixel --width 240 --height 30 \
    --transparent false --tint 0xdee2e6 --expand false 2>"$work/trayer.log" &
pids+=("$!")
sleep 1

mkdir -p "$work/runtime" && chmod 700 "$work/runtime"
mkdir -p "$out"
env -u DBUS_SESSION_BUS_ADDRESS -u WAYLAND_DISPLAY \
    DISPLAY="$display" QT_QPA_PLATFORM=xcb \
    HOME="$work/home" XDG_RUNTIME_DIR="$work/runtime" \
    KEYBROKER_HOME="$work/keybroker" KEYBROKER_VAULT=memory KEYBROKER_PORT=0 \
    "$python" scripts/screenshots.py "$out"
echo "screenshots: done; look at every PNG in $out"
