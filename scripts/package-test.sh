#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the .deb (reusing a fresh one), install it, run it, remove it: `make package-test` (DESIGN.md §8).
#
# The checks are pytest tests (tests/packaging/test_installed_package.py) run inside a private Secret
# Service session, so the installed app uses a real vault: install with dpkg, the installed bundle's
# self-test under Xvfb, /usr/bin/keybroker under Xvfb + trayer with a throw-away home (tray icon shown
# and embedded, bridge answering, `keybroker status`, cold start and idle memory measured, SIGTERM ->
# exit 0), then `dpkg --remove` leaves nothing. Prints the figures in one block at the end.
#
# Installing needs root or `sudo -n`: otherwise this prints why it is skipped and exits 0.
# Env: VENV (the test venv, default .venv), PACKAGE_VENV, DEB_COMPRESSION (see scripts/package.sh).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv="${VENV:-.venv}"
abs() { if [[ "$1" == /* ]]; then printf '%s' "$1"; else printf '%s' "$repo_root/$1"; fi; }

if ((EUID != 0)) && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
    echo "package-test: skipped: not root and no sudo -n (installing the .deb needs one of them)"
    exit 0
fi
if ! command -v dpkg >/dev/null 2>&1; then
    echo "package-test: skipped: no dpkg (not a Debian system)"
    exit 0
fi
if dpkg-query -W -f='${db:Status-Abbrev}' keybroker 2>/dev/null | grep -q '^ii'; then
    echo "package-test: note: keybroker $(dpkg-query -W -f='${Version}' keybroker) is installed;" \
        "the test replaces it and removes it at the end"
fi

bash scripts/package.sh
deb="$(abs "$(cat build/package/deb-path)")"
bash scripts/venv.sh "$venv" test >/dev/null

figures="$(abs build/package/run-figures.json)"
rm -f "$figures"
rc=0
env KEYBROKER_PACKAGE_DEB="$deb" KEYBROKER_PACKAGE_FIGURES="$figures" KEYBROKER_TEST_SECRET_SERVICE=1 \
    QT_QPA_PLATFORM=offscreen \
    bash scripts/secret-service-session.sh \
    "$(abs "$venv")/bin/python" -m pytest -p no:cacheprovider -o addopts="" -rA --timeout=600 \
    tests/packaging/test_installed_package.py || rc=$?

echo
echo "==> package figures ($(uname -m), $(nproc) cores)"
# shellcheck disable=SC1091
source build/package/figures
printf '    %-34s %s\n' \
    "build time (make package, cold)" "$build_seconds s (PyInstaller $pyinstaller_seconds s, dpkg-deb $dpkg_deb_seconds s)" \
    "bundle size (/opt/keybroker)" "$bundle_size ($bundle_kib KiB)" \
    ".deb size ($deb_compression)" "$((deb_kib / 1024)) MiB ($deb_kib KiB)" \
    "installed size" "$installed_kib KiB"
if [[ -f "$figures" ]]; then
    "$(abs "$venv")/bin/python" - "$figures" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
rows = [
    ("cold start to tray icon", f"{f['cold_start_to_tray_icon_s']:.2f} s"),
    ("cold start to bridge answering", f"{f['cold_start_to_bridge_answering_s']:.2f} s"),
    ("idle RSS (5 s after launch)", f"{f['idle_rss_mib']:.0f} MiB"),
    ("vault during the run", f["vault"]),
]
for name, value in rows:
    print(f"    {name:<34} {value}")
PY
else
    echo "    (no run figures: the installed-app test did not finish)"
fi
exit "$rc"
