#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install oidc-provider (npm) for the OAuth 2 / OIDC authorization server of tests/peers/oauth_server.py.
#
# The versions are those of scripts/peers/oidc/package-lock.json (`npm ci`); the server itself is
# scripts/peers/oidc/server.mjs, which loads oidc-provider from this cache (OIDC_MODULES).
# oidc-provider 9.x prints "Unsupported runtime. Use Node.js v22.x LTS" on Node 20 but works: every flow
# the rig uses is covered by tests/peers/test_oauth_server.py.
#
# Usage: scripts/peers/oidc.sh [DIR]   (default: .cache/peers/oidc-provider in the repo root)
# Idempotent: a marker in DIR holds the hash of package.json + package-lock.json; when it matches, nothing
# is done. To move to a newer version: edit package.json, run `npm install --package-lock-only` in
# scripts/peers/oidc, commit both files.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/peers/lib.sh
source "$repo_root/scripts/peers/lib.sh"
dir="${1:-$repo_root/.cache/peers/oidc-provider}"

npm_peer oidc-provider "$dir" "$repo_root/scripts/peers/oidc"
version="$(node -p "require('$dir/node_modules/oidc-provider/package.json').version")"
echo "oidc-provider: $version on node $(node --version)"
