#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run CMD inside a private D-Bus session with a real, unlocked Secret Service (gnome-keyring).
#
# Usage: scripts/secret-service-session.sh CMD [ARGS...]
#
# The recipe (DESIGN.md §6, tried on bare Debian 12): a throw-away HOME and XDG_RUNTIME_DIR (0700), no
# display, then dbus-run-session; inside it gnome-keyring-daemon is unlocked with a random password
# *before* anything can touch the vault. (D-Bus would otherwise auto-start a locked keyring whose
# prompter fails headless with InitError, or blocks forever when a display is set.)
# The developer's own bus, keyring and config are never reachable: every variable that could lead to
# them is dropped, and the XDG dirs point into the temp HOME. Paths given as CMD keep working because
# the working directory, PATH and the interpreters' locations are left alone.
#
# CMD sees:
#   KEYRING_PASS         the throw-away password (tests use it to unlock a collection they locked)
#   KEYBROKER_RIG_BUS    the private bus address, equal to DBUS_SESSION_BUS_ADDRESS (tests/conftest.py
#                        checks this before it lets the Secret Service tests run)
# Exit status: CMD's, or 1 when the Secret Service could not be started.
# KEYBROKER_SS_START_TIMEOUT (seconds, default 15) bounds the wait for the daemon.
set -euo pipefail

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

# --- inner stage: runs inside dbus-run-session -------------------------------------------------------
if [[ "${_KEYBROKER_SS_STAGE:-}" == inner ]]; then
    unset _KEYBROKER_SS_STAGE

    bus_call() {
        dbus-send --session --print-reply=literal --reply-timeout=2000 \
            --dest=org.freedesktop.DBus /org/freedesktop/DBus "org.freedesktop.DBus.$1" "${@:2}"
    }

    # Unlock first: this creates the "login" collection with KEYRING_PASS and starts the daemon.
    if ! printf '%s' "$KEYRING_PASS" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
        echo "secret-service-session: error: gnome-keyring-daemon --unlock failed" >&2
        exit 1
    fi

    # Wait until org.freedesktop.secrets has an owner. NameHasOwner does not auto-start a service.
    timeout_s="${KEYBROKER_SS_START_TIMEOUT:-15}"
    deadline=$((SECONDS + timeout_s))
    until [[ "$(bus_call NameHasOwner string:org.freedesktop.secrets 2>/dev/null)" == *true* ]]; do
        if ((SECONDS >= deadline)); then
            echo "secret-service-session: error: nobody owns org.freedesktop.secrets on the private bus" \
                "after ${timeout_s} s (is gnome-keyring installed? try: gnome-keyring-daemon --version)" >&2
            exit 1
        fi
        sleep 0.05
    done
    daemon_pid="$(bus_call GetConnectionUnixProcessID string:org.freedesktop.secrets | awk '{print $NF}')"

    export KEYBROKER_RIG_BUS="$DBUS_SESSION_BUS_ADDRESS"
    set +e
    "$@"
    rc=$?
    set -e
    # The daemon also leaves when the bus closes; stopping it here makes sure it is gone before the
    # outer stage removes its files.
    if [[ "$daemon_pid" =~ ^[0-9]+$ ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$daemon_pid" 2>/dev/null || break
            sleep 0.05
        done
    fi
    exit "$rc"
fi

# --- outer stage: a throw-away home, then the private bus -------------------------------------------
if (($# == 0)); then
    echo "usage: scripts/secret-service-session.sh CMD [ARGS...]" >&2
    exit 2
fi
for c in dbus-run-session dbus-send gnome-keyring-daemon; do
    if ! command -v "$c" >/dev/null 2>&1; then
        echo "secret-service-session: error: '$c' not found; install: gnome-keyring dbus dbus-x11" \
            "(or run scripts/system-deps.sh)" >&2
        exit 1
    fi
done

real_home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
# Keep what lives under the real home but is not secret: pip's cache, pyenv's shims.
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$real_home/.cache}/pip}"
if [[ -z "${PYENV_ROOT:-}" && -d "$real_home/.pyenv" ]]; then
    export PYENV_ROOT="$real_home/.pyenv"
fi

tmp_root="$(mktemp -d "${TMPDIR:-/tmp}/keybroker-ss.XXXXXX")"
trap 'rm -rf "$tmp_root"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 700 "$tmp_root"
mkdir -m 700 "$tmp_root/home" "$tmp_root/run"

# Nothing may lead back to the developer's session: bus, keyring, display, keyring's own overrides.
unset DBUS_SESSION_BUS_ADDRESS DBUS_SESSION_BUS_PID DBUS_SESSION_BUS_WINDOWID \
    DBUS_STARTER_ADDRESS DBUS_STARTER_BUS_TYPE \
    GNOME_KEYRING_CONTROL GNOME_KEYRING_PID SSH_AUTH_SOCK \
    DISPLAY WAYLAND_DISPLAY \
    PYTHON_KEYRING_BACKEND
for name in $(compgen -e); do
    [[ "$name" == KEYRING_PROPERTY_* ]] && unset "$name"
done

export HOME="$tmp_root/home"
export XDG_RUNTIME_DIR="$tmp_root/run"
# gnome-keyring keeps its collections under XDG_DATA_HOME: it must be the temp one.
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
export XDG_CACHE_HOME="$HOME/.cache" XDG_STATE_HOME="$HOME/.local/state"
KEYRING_PASS="$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
export KEYRING_PASS

rc=0
_KEYBROKER_SS_STAGE=inner dbus-run-session -- bash "$self" "$@" || rc=$?
exit "$rc"
