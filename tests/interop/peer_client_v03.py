# SPDX-License-Identifier: Apache-2.0
"""A plain a2a-sdk 0.3 client, run by the peer venv's python (a2a-sdk 0.3 and 1.x cannot share one).

Usage: `python peer_client_v03.py URL TEXT [--no-stream] [--rest]`. Resolves the card at URL, sends
TEXT, then `tasks/get`s the task, and prints one JSON object: the card's url, every event as the
client saw it, the fetched task and the final state. Exit code 0 unless the client raised.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, TaskQueryParams, TextPart, TransportProtocol


def _dump(model: Any) -> Any:
    return None if model is None else model.model_dump(mode="json", exclude_none=True)


async def main(url: str, text: str, streaming: bool, rest: bool) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60.0, trust_env=False) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        transport = TransportProtocol.http_json if rest else TransportProtocol.jsonrpc
        config = ClientConfig(streaming=streaming, httpx_client=http, supported_transports=[transport])
        client = ClientFactory(config).create(card)
        message = Message(
            role=Role.user, message_id=str(uuid.uuid4()), parts=[Part(root=TextPart(text=text))]
        )
        out: dict[str, Any] = {"card_url": card.url, "protocol_version": card.protocol_version, "events": []}
        task = None
        async for event in client.send_message(message):
            if isinstance(event, tuple):
                task, update = event
                out["events"].append({"task": _dump(task), "update": _dump(update)})
            else:
                out["events"].append({"message": _dump(event)})
        if task is not None:
            fetched = await client.get_task(TaskQueryParams(id=task.id))
            out["get"] = _dump(fetched)
            out["state"] = fetched.status.state.value
        return out


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    result = asyncio.run(main(args[0], args[1], "--no-stream" not in sys.argv, "--rest" in sys.argv))
    print(json.dumps(result))
