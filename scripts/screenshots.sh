#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make screenshots`: the tray app under Xvfb with trayer as tray host and an empty, throw-away Keybroker
# home, driven by scripts/screenshots.py through a new user's first run (a real local agent, a real A2A
# client through the bridge, the prompt, the settings window) and a few more states; PNGs go to
# docs/screenshots/. The vault is a real Secret Service (gnome-keyring in a private D-Bus session, via
# scripts/secret-service-session.sh) when that can start, else the session-only memory vault.
#
# Env: PYTHON (default .venv/bin/python, else python3), OUT (default docs/screenshots), SIZE (1280x800x24),
#      SHOTS_VAULT (auto | keyring | memory; default auto).
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

mkdir -p "$out"
vault="${SHOTS_VAULT:-auto}"
if [[ "$vault" == auto ]]; then
    vault=memory
    if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
        vault=keyring
    fi
fi
# The default port when it is free, so the pictures show the URLs a user sees; any free port otherwise
# (the General tab then says that KEYBROKER_PORT overrides the setting).
unset KEYBROKER_PORT
port=()
if ! "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 7411)); s.close()' 2>/dev/null; then
    port=(KEYBROKER_PORT=0)
fi
# The app and the demo agent it starts see only this display and the throw-away home.
app_env=(DISPLAY="$display" QT_QPA_PLATFORM=xcb KEYBROKER_HOME="$work/keybroker" "${port[@]}")
case "$vault" in
    keyring)
        # The rig gives a private bus, an unlocked gnome-keyring and its own HOME and XDG_RUNTIME_DIR.
        scripts/secret-service-session.sh env "${app_env[@]}" "$python" scripts/screenshots.py "$out"
        ;;
    memory)
        mkdir -p "$work/runtime" && chmod 700 "$work/runtime"
        env -u DBUS_SESSION_BUS_ADDRESS -u WAYLAND_DISPLAY HOME="$work/home" XDG_RUNTIME_DIR="$work/runtime" \
            "${app_env[@]}" KEYBROKER_VAULT=memory "$python" scripts/screenshots.py "$out"
        ;;
    *)
        echo "screenshots: SHOTS_VAULT must be auto, keyring or memory, not '$vault'" >&2
        exit 2
        ;;
esac
# The model prompt and Models tab (issue 14), the device-code dialog and Sign-ins tab (issue 13): the real
# widgets drawn offscreen over a throw-away home (each script says what it sets up). After the run above,
# which drops every PNG it did not make.
QT_QPA_PLATFORM=offscreen "$python" scripts/screenshot_models.py "$out"
QT_QPA_PLATFORM=offscreen "$python" scripts/screenshot_signins.py "$out"
echo "screenshots: done; look at every PNG in $out"
