# SPDX-License-Identifier: Apache-2.0
# mypy: disable-error-code="import-not-found,untyped-decorator"
"""Seed 000's agent on agentstack-sdk 0.7.1: one secret, and its own answer when none is given.

Runs in the peer venv (scripts/peer-venv.sh). Usage: `python seed000_agentstack_agent.py [PORT]`.

It behaves like Agent Stack's `basic-secrets` example (PROTOCOL pitfall 27): the card demands
`SLACK_API_KEY`; a value pre-configured in the first message is used; otherwise it asks at run time
with `request_secrets(...)`, catches the `ValueError` the SDK raises when the resume carries no
secrets metadata, and answers "No Slack API key provided" when nothing usable came back. Unlike
the example it never echoes the value: `Slack API key: len=<n> sha256=<first 12 hex> via=<...>`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Annotated

from a2a.types import Message
from agentstack_sdk.a2a.extensions.auth.secrets import (
    SecretDemand,
    SecretsExtensionServer,
    SecretsExtensionSpec,
    SecretsServiceExtensionParams,
)
from agentstack_sdk.server import Server

KEY = "SLACK_API_KEY"
NO_KEY = "No Slack API key provided"

server = Server()


def proof(value: str, via: str) -> str:
    """Length and a sha256 prefix: enough for a test to compare, never the value."""
    return (
        f"Slack API key: len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]} via={via}"
    )


@server.agent(name="keybroker-seed000-peer", description="Seed 000: needs a Slack key, says so without one.")
async def basic_secrets(
    message: Message,
    secrets: Annotated[
        SecretsExtensionServer,
        SecretsExtensionSpec.single_demand(key=KEY, name="Slack", description="Access to Slack"),
    ],
) -> AsyncIterator[str]:
    """Agent that requests a secret that can be provided during runtime."""
    if secrets and secrets.data and secrets.data.secret_fulfillments:
        yield proof(secrets.data.secret_fulfillments[KEY].secret.get_secret_value(), "preconfigured")
        return
    try:
        runtime = await secrets.request_secrets(
            params=SecretsServiceExtensionParams(
                secret_demands={KEY: SecretDemand(description="I really need Slack Key", name="Slack")}
            )
        )
    except ValueError:
        runtime = None
    if runtime and runtime.secret_fulfillments:
        yield proof(runtime.secret_fulfillments[KEY].secret.get_secret_value(), "runtime")
    else:
        yield NO_KEY


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10000"))
    server.run(host="127.0.0.1", port=port, self_registration=False)


if __name__ == "__main__":
    main()
