#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install (or find cached) every real third-party server the tests run: scripts/peers/README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for peer in openbao litellm oidc a2a-js a2a-js-1; do
    bash "$here/$peer.sh"
done
