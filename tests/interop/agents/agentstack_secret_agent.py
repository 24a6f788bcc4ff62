# SPDX-License-Identifier: Apache-2.0
# mypy: disable-error-code="import-not-found,untyped-decorator"
"""A real agentstack-sdk 0.7.1 agent that needs secrets: the interop tests' A2A 0.3 peer.

Runs in the peer venv (scripts/peer-venv.sh), never in Keybroker's own: a2a-sdk 0.3 and 1.x cannot
share one. Usage: `python agentstack_secret_agent.py [PORT]` (else `$KEYBROKER_PEER_PORT`, else 10000).

Card: the secrets extension with two demands, `github` and `slack` (PROTOCOL.md §2.1).
Run: the keys it needs are every declared demand, or those named in the message text as
`keys=github,other` (a key not on the card is demanded at run time only). Values pre-configured in
the first message's metadata are used; the rest are asked for with `request_secrets(...)`, which
puts the task in `auth-required` until a resume carries them. The reply proves each value arrived
without echoing it: one line per key, `<key>: len=<n> sha256=<first 12 hex> via=<preconfigured|runtime>`.
If a resume still lacks a key, the reply is `missing: <keys>`.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import AsyncIterator
from typing import Annotated

from a2a.types import Message
from a2a.utils.message import get_message_text
from agentstack_sdk.a2a.extensions.auth.secrets import (
    SecretDemand,
    SecretsExtensionServer,
    SecretsExtensionSpec,
    SecretsServiceExtensionParams,
)
from agentstack_sdk.server import Server

DEMANDS = {
    "github": SecretDemand(name="GitHub token", description="PAT with repo scope"),
    "slack": SecretDemand(name="Slack bot token", description="xoxb- token for posting messages"),
}
AGENT_NAME = "keybroker-secret-peer"
_KEYS = re.compile(r"keys=([A-Za-z0-9_.,-]+)")

server = Server()


def proof(value: str) -> str:
    """Length and a sha256 prefix: enough for a test to compare, never the value."""
    return f"len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]}"


def wanted_keys(text: str) -> list[str]:
    """Keys named as `keys=a,b` in the text, else every declared demand."""
    match = _KEYS.search(text)
    if match is None:
        return list(DEMANDS)
    return [k for k in match.group(1).split(",") if k]


def demand_for(key: str) -> SecretDemand:
    return DEMANDS.get(key) or SecretDemand(name=f"{key} (run-time only)", description=None)


@server.agent(
    name=AGENT_NAME,
    description="Test peer: needs a GitHub and a Slack token; replies with proofs, never the values.",
    version="1.0.0",
)
async def run(
    message: Message,
    secrets: Annotated[
        SecretsExtensionServer,
        SecretsExtensionSpec(params=SecretsServiceExtensionParams(secret_demands=DEMANDS)),
    ],
) -> AsyncIterator[str]:
    """Needs secrets; proves it got them."""
    keys = wanted_keys(get_message_text(message))
    got: dict[str, tuple[str, str]] = {}
    if secrets.data is not None:
        for key, fulfilment in secrets.data.secret_fulfillments.items():
            got[key] = (fulfilment.secret.get_secret_value(), "preconfigured")
    missing = [k for k in keys if k not in got]
    if missing:
        params = SecretsServiceExtensionParams(secret_demands={k: demand_for(k) for k in missing})
        answer = await secrets.request_secrets(params)
        for key, fulfilment in answer.secret_fulfillments.items():
            got.setdefault(key, (fulfilment.secret.get_secret_value(), "runtime"))
    still = [k for k in keys if k not in got]
    if still:
        yield f"missing: {','.join(still)}"
        return
    yield "\n".join(f"{k}: {proof(got[k][0])} via={got[k][1]}" for k in keys)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10000"))
    # self_registration=False: otherwise it keeps calling a platform on 127.0.0.1:8333 (PROTOCOL §5).
    server.run(host="127.0.0.1", port=port, self_registration=False)


if __name__ == "__main__":
    main()
