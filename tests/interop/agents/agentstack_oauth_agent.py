# SPDX-License-Identifier: Apache-2.0
# mypy: disable-error-code="import-not-found,untyped-decorator"
"""A real agentstack-sdk 0.7.1 agent that signs its user in through Agent Stack's OAuth extension.

Runs in the peer venv (scripts/peer-venv.sh), never in Keybroker's own. Usage:
`python agentstack_oauth_agent.py [PORT]` with `KEYBROKER_PEER_RESOURCE` set to an OAuth-protected
MCP server's URL (tests/interop/agents/mcp_resource_server.py).

Card: the OAuth extension with one demand, `default` (PROTOCOL.md §2.2). Run: the agent takes the
`redirect_uri` its client fulfilled in the first message, and calls the resource's `whoami` tool
with `OAuthExtensionServer.create_httpx_auth(...)` as the httpx auth: mcp's `OAuthClientProvider`
discovers the authorization server (RFC 9728, RFC 8414), registers a client with that redirect_uri
(RFC 7591), and sends the user to sign in: the task goes `auth-required` with the authorization URL
in the extension's metadata until a resume brings the redirect back (code and state); it then
exchanges the code (PKCE) and calls the tool. The reply is what the resource answered, on one line.
A failure is answered as `resource failed: <exception type>` (never its text: it may quote the URL).
A first message "ask first" makes it ask its client something (`input-required`) before it signs in,
so the sign-in comes on the task's second turn.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pydantic
from a2a.types import Message
from agentstack_sdk.a2a.extensions.auth.oauth import OAuthExtensionServer, OAuthExtensionSpec
from agentstack_sdk.a2a.types import AgentMessage, InputRequired
from agentstack_sdk.server import Server
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

AGENT_NAME = "keybroker-oauth-peer"

server = Server()


@server.agent(
    name=AGENT_NAME,
    description="Test peer: signs its user in at an MCP server's authorization server, asks who they are.",
    version="1.0.0",
)
async def run(
    message: Message,
    oauth: Annotated[OAuthExtensionServer, OAuthExtensionSpec.single_demand()],
) -> AsyncIterator[str]:
    """Calls the protected resource as the signed-in user."""
    resource = os.environ["KEYBROKER_PEER_RESOURCE"]
    first = " ".join(getattr(p.root, "text", "") for p in message.parts).strip()
    if first == "ask first":
        yield InputRequired(message=AgentMessage(text="Which tool shall I call at the resource?"))
    try:
        auth = await oauth.create_httpx_auth(resource_url=pydantic.AnyUrl(resource))
        async with (
            httpx.AsyncClient(auth=auth, trust_env=False, timeout=30.0) as http,
            streamable_http_client(resource, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("whoami", {})
    except Exception as exc:  # the test reads the type; the text may hold the URL
        print(f"resource call failed: {type(exc).__name__}", flush=True)
        yield f"resource failed: {type(exc).__name__}"
        return
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    yield " ".join(texts) or "resource answered nothing"


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10000"))
    server.run(host="127.0.0.1", port=port, self_registration=False)


if __name__ == "__main__":
    main()
