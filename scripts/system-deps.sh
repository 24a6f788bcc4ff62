#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages the tests need, only those that are missing (DESIGN.md §6).
#
# Checks each package with dpkg-query; if any is missing, runs `apt-get update` once and
# `apt-get install -y --no-install-recommends` for the missing ones: directly as root, else through
# `sudo -n` (never prompts), else stops with the command to run by hand.
set -euo pipefail

packages=(
    # a real Secret Service on a private session bus
    gnome-keyring dbus dbus-x11
    # a headless X display for tray tests and screenshots
    xvfb xauth
    # the Qt runtime PySide6 loads
    libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 libxkbcommon0
    # Qt's xcb platform plugin (a real X display)
    libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-render0
    libxcb-shape0 libxcb-util1 libxcb-xkb1 libxkbcommon-x11-0
    # a tray host for Xvfb (stalonetray is not in bookworm); screenshots (x11-apps has xwd)
    trayer imagemagick x11-apps
    # the package test (scripts/package-test.sh): objdump for PyInstaller, xwininfo to find the tray icon,
    # desktop-file-validate for the launcher, lintian for the .deb, man-db to read the manual page
    binutils x11-utils desktop-file-utils lintian man-db
)
# What the Secret Service session cannot run without, for systems without dpkg.
essential_commands=(dbus-run-session dbus-send gnome-keyring-daemon)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "system-deps: no dpkg-query: not a Debian system; make sure these (or their equivalents) are installed:" >&2
    echo "  ${packages[*]}" >&2
    missing_cmds=()
    for c in "${essential_commands[@]}"; do
        command -v "$c" >/dev/null 2>&1 || missing_cmds+=("$c")
    done
    if ((${#missing_cmds[@]})); then
        echo "system-deps: error: missing commands: ${missing_cmds[*]}" >&2
        exit 1
    fi
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)"
    [[ "$status" == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    echo "system-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "system-deps: missing: ${missing[*]}"
if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "system-deps: error: these packages are missing and I am neither root nor allowed 'sudo -n':" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "system-deps: installed ${missing[*]}"
