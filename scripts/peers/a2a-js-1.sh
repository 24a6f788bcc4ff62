#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install @a2a-js/sdk 1.x (the official A2A JavaScript SDK, 1.3.0 here: A2A 1.0, with 0.3 behind its
# compat/v0_3 exports) and express for the agent and client of scripts/peers/a2a-js-1/, used by
# tests/peers/a2a_js1.py. The 0.3 line (scripts/peers/a2a-js.sh) stays beside it for A2A 0.3.
#
# The versions are those of scripts/peers/a2a-js-1/package-lock.json (`npm ci`).
#
# Usage: scripts/peers/a2a-js-1.sh [DIR]   (default: .cache/peers/a2a-js-1 in the repo root)
# Idempotent: a marker in DIR holds the hash of package.json + package-lock.json; when it matches, nothing
# is done. To move to a newer version: edit package.json, run `npm install --package-lock-only` in
# scripts/peers/a2a-js-1, commit both files.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/peers/lib.sh
source "$repo_root/scripts/peers/lib.sh"
dir="${1:-$repo_root/.cache/peers/a2a-js-1}"

npm_peer a2a-js-1 "$dir" "$repo_root/scripts/peers/a2a-js-1"
versions="$(node -p "['@a2a-js/sdk', 'express'].map((p) => p + ' ' + require('$dir/node_modules/' + p + '/package.json').version).join(', ')")"
echo "a2a-js-1: $versions on node $(node --version)"
