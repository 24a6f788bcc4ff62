#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Create a venv (if missing) and install keybroker into it in editable mode.
#
# Usage: scripts/venv.sh VENV [EXTRAS]     e.g. `scripts/venv.sh .venv test` installs `-e .[test]`
# Reinstalls only when pyproject.toml changed: a stamp file in the venv holds its hash and the extras.
# (Editable mode means new modules under desktop/ need no reinstall.) Uses $PYTHON (default python3).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv="${1:?usage: scripts/venv.sh VENV [EXTRAS]}"
extras="${2:-}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "venv: error: $python is missing or older than 3.11 (pyproject requires >=3.11); set PYTHON=..." >&2
    exit 1
fi

spec="."
[[ -n "$extras" ]] && spec=".[$extras]"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $spec"
stamp="$venv/.keybroker-installed-${extras:-base}"

venv_ok() { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import sys' 2>/dev/null; }
stamp_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

if venv_ok; then
    if stamp_ok "$stamp" "$want"; then
        echo "venv: $venv is up to date ($spec)"
        exit 0
    fi
    # A venv with the test extras also serves `make run`.
    if [[ -z "$extras" ]] && stamp_ok "$venv/.keybroker-installed-test" "${want% *} .[test]"; then
        echo "venv: $venv is up to date (.[test])"
        exit 0
    fi
else
    # Missing, or broken (e.g. its interpreter moved): start over.
    rm -rf "$venv"
    echo "venv: creating $venv with $("$python" --version 2>&1) ($(command -v "$python"))"
    "$python" -m venv "$venv"
fi

echo "venv: installing -e $spec into $venv"
rm -f "$venv"/.keybroker-installed-*
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
printf '%s' "$want" >"$stamp"
echo "venv: ready ($venv/bin/python)"
