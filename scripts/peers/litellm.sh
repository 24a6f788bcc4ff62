#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Create the venv with the LiteLLM proxy (an OpenAI-compatible gateway) for tests/peers/litellm.py.
#
# litellm[proxy] 1.110.x needs a `litellm-proxy` package that the registry lacks; 1.80.17 installs and
# runs offline (shared PROTOCOL.md §5). Its transitive versions are pinned by litellm/constraints.txt.
#
# Usage: scripts/peers/litellm.sh [VENV_DIR]   (default: .venv-peer-litellm in the repo root)
# Idempotent: a marker file inside the venv records the spec and the constraints' hash.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/peers/lib.sh
source "$repo_root/scripts/peers/lib.sh"
venv="${1:-$repo_root/.venv-peer-litellm}"

check='import importlib.metadata as m
import litellm.proxy.proxy_server
print("litellm: litellm", m.version("litellm"), "| fastapi", m.version("fastapi"), "| openai", m.version("openai"))'
peer_venv litellm "$venv" "$check" "litellm[proxy]==1.80.17" -c "$repo_root/scripts/peers/litellm/constraints.txt"
