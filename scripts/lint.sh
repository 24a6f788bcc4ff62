#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ruff (lint and format) and mypy with the config in pyproject.toml, from the venv that
# `scripts/venv.sh VENV test` built.
# Runs both even when the first fails, so one run shows every problem.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv="${VENV:-.venv}"

for tool in ruff mypy; do
    if [[ ! -x "$venv/bin/$tool" ]]; then
        echo "lint: error: $venv/bin/$tool not found; run: scripts/venv.sh $venv test" >&2
        exit 1
    fi
done

dirs=()
for d in desktop tests bench packaging scripts; do
    [[ -d "$d" ]] && dirs+=("$d")
done

rc=0
echo "lint: ruff check ${dirs[*]}"
"$venv/bin/ruff" check "${dirs[@]}" || rc=1
echo "lint: ruff format --check ${dirs[*]}"
"$venv/bin/ruff" format --check "${dirs[@]}" || rc=1
echo "lint: mypy"
"$venv/bin/mypy" || rc=1
exit "$rc"
