# SPDX-License-Identifier: Apache-2.0
# mypy: disable-error-code="import-not-found,untyped-decorator"
"""A real agentstack-sdk 0.7.1 agent that needs models: the LLM and embedding service extensions.

Runs in the peer venv (like agentstack_secret_agent.py). Usage: `python agentstack_model_agent.py
[PORT]`. Card: `llm_demands.default` (suggested `openai/mock-chat`) and `embedding_demands.default`
(suggested `openai/mock-embed`). Run: with the fulfilled `api_base` and `api_key` (whatever they
are: the agent knows nothing of Keybroker) it calls `/chat/completions` with httpx, streamed when the
text says `stream`, and `/embeddings` when it says `embed`, and replies:

    answer: <the model's text>
    embedding: <n> floats
    identifier: <the fulfilment's identifier>

A text with `leak` also echoes the api_key it got (what the bridge must cut). A failing call is
answered as `error: HTTP <status> <the provider's error message>`; a missing fulfilment as
`no model: <kind>`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from a2a.types import Message
from a2a.utils.message import get_message_text
from agentstack_sdk.a2a.extensions.services.embedding import (
    EmbeddingServiceExtensionServer,
    EmbeddingServiceExtensionSpec,
)
from agentstack_sdk.a2a.extensions.services.llm import LLMServiceExtensionServer, LLMServiceExtensionSpec
from agentstack_sdk.server import Server

server = Server()


def _error(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return f"error: HTTP {response.status_code} {message}"


async def _chat(client: httpx.AsyncClient, base: str, key: str, model: str, stream: bool) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if not stream:
        response = await client.post(f"{base}/chat/completions", json=body, headers=headers)
        if response.status_code != 200:
            return _error(response)
        return str(response.json()["choices"][0]["message"]["content"])
    body |= {"stream": True, "stream_options": {"include_usage": True}}
    text = []
    async with client.stream("POST", f"{base}/chat/completions", json=body, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            return _error(response)
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                text.append((choice.get("delta") or {}).get("content") or "")
    return "".join(text)


async def _embed(client: httpx.AsyncClient, base: str, key: str, model: str) -> str:
    response = await client.post(
        f"{base}/embeddings",
        json={"model": model, "input": ["hello"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    if response.status_code != 200:
        return _error(response)
    return f"{len(response.json()['data'][0]['embedding'])} floats"


@server.agent(
    name="keybroker-model-peer",
    description="Test peer: asks for a chat model and an embedding model, calls them, returns the answer.",
    version="1.0.0",
)
async def run(
    message: Message,
    llm: Annotated[
        LLMServiceExtensionServer,
        LLMServiceExtensionSpec.single_demand(
            description="Answers the user", suggested=("openai/mock-chat",)
        ),
    ],
    embedding: Annotated[
        EmbeddingServiceExtensionServer,
        EmbeddingServiceExtensionSpec.single_demand(
            description="Indexes documents", suggested=("openai/mock-embed",)
        ),
    ],
) -> AsyncIterator[str]:
    """Calls the models it was given."""
    text = get_message_text(message)
    lines = []
    async with httpx.AsyncClient(trust_env=False, timeout=30.0) as client:
        chat = llm.data.llm_fulfillments.get("default") if llm.data else None
        if chat is None:
            lines.append("no model: llm")
        else:
            key = (
                chat.api_key.get_secret_value() if hasattr(chat.api_key, "get_secret_value") else chat.api_key
            )
            answer = await _chat(client, chat.api_base, key, chat.api_model, "stream" in text)
            lines += [f"answer: {answer}", f"identifier: {chat.identifier}"]
            if "leak" in text:
                lines.append(f"my key: {key}")
        if "embed" in text:
            found = embedding.data.embedding_fulfillments.get("default") if embedding.data else None
            if found is None:
                lines.append("no model: embedding")
            else:
                key = found.api_key
                key = key.get_secret_value() if hasattr(key, "get_secret_value") else key
                lines.append(f"embedding: {await _embed(client, found.api_base, key, found.api_model)}")
    yield "\n".join(lines)


if __name__ == "__main__":
    import os

    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("KEYBROKER_PEER_PORT", "10000"))
    server.run(host="127.0.0.1", port=port, self_registration=False)
