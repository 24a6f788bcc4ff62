#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install @a2a-js/sdk (the official A2A JavaScript SDK, 0.3.x: A2A 0.3) and express for the agent and
# client of scripts/peers/a2a-js/, used by tests/peers/a2a_js.py.
#
# The versions are those of scripts/peers/a2a-js/package-lock.json (`npm ci`). The 1.x line of the SDK
# speaks A2A 1.0, with 0.3 behind its compat/v0_3 exports; it is scripts/peers/a2a-js-1.sh, beside this one.
#
# Usage: scripts/peers/a2a-js.sh [DIR]   (default: .cache/peers/a2a-js in the repo root)
# Idempotent: a marker in DIR holds the hash of package.json + package-lock.json; when it matches, nothing
# is done. To move to a newer version: edit package.json, run `npm install --package-lock-only` in
# scripts/peers/a2a-js, commit both files.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/peers/lib.sh
source "$repo_root/scripts/peers/lib.sh"
dir="${1:-$repo_root/.cache/peers/a2a-js}"

npm_peer a2a-js "$dir" "$repo_root/scripts/peers/a2a-js"
versions="$(node -p "['@a2a-js/sdk', 'express'].map((p) => p + ' ' + require('$dir/node_modules/' + p + '/package.json').version).join(', ')")"
echo "a2a-js: $versions on node $(node --version)"
