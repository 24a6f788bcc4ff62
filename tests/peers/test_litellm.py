# SPDX-License-Identifier: Apache-2.0
"""LiteLLM proxy smoke test: models, chat, streaming with usage, embeddings and key checks, offline."""

from __future__ import annotations

import json

import pytest

from tests.peers import litellm
from tests.peers.process import skip_if_missing


@pytest.mark.slow  # the proxy takes 5-10 s to import and start
def test_litellm_proxy_serves_mock_models_offline() -> None:
    with skip_if_missing(), litellm.litellm_proxy() as proxy, proxy.client() as client:
        models = client.get("/models").json()
        assert {m["id"] for m in models["data"]} == {litellm.CHAT_MODEL, litellm.EMBEDDING_MODEL}

        chat = client.post(
            "/chat/completions",
            json={"model": litellm.CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["message"]["content"] == litellm.MOCK_REPLY

        request = {
            "model": litellm.CHAT_MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with client.stream("POST", "/chat/completions", json=request) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = list(stream.iter_lines())
        events = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == litellm.MOCK_REPLY
        # The usage comes in a last chunk of its own (LiteLLM gives it one empty delta, OpenAI no choices).
        assert chunks[-1]["usage"]["total_tokens"] > 0
        assert all("usage" not in c for c in chunks[:-1])

        embedding = client.post("/embeddings", json={"model": litellm.EMBEDDING_MODEL, "input": ["a", "b"]})
        assert embedding.status_code == 200, embedding.text
        # mock_response gives one vector, whatever the number of inputs.
        assert [d["embedding"] for d in embedding.json()["data"]] == [litellm.MOCK_EMBEDDING]

        with proxy.client("sk-wrong") as wrong:
            denied = wrong.get("/models")
        # Not 401: the proxy looks unknown keys up as virtual keys in a database it does not have.
        assert denied.status_code == 400
        assert denied.json()["error"]["message"] == "No connected db."
        assert client.get("/models", headers={"Authorization": ""}).status_code == 401
