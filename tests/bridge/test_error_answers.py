# SPDX-License-Identifier: Apache-2.0
"""What a client is told when its request cannot be served (issue 12, item 10), on real sockets.

- a malformed body on the 0.3 REST stream is a 400, not `200 OK` and a dropped connection;
- an unexpected Python exception is never quoted back (no recursion depth, no codec message):
  a bad request gets a clear JSON-RPC error by type, anything else a generic -32603, and the log gets
  the exception's type without its text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from typing import Any

import httpx
import pytest

from keybroker.core.bridge.ports import Phase
from keybroker.core.models import AgentRecord, SecretDemand
from tests.bridge.fakes import FakeFulfilment, ScriptedSecrets
from tests.bridge.live_agent import bridge, scripted_agent
from tests.bridge.support import jsonrpc, message_v03, message_v10, sse_payloads

V10 = {"A2A-Version": "1.0"}
#: Words of Python's own exception texts that must never reach a client.
PYTHON_TEXT = ("recursion", "codec", "surrogates not allowed", "Traceback", "position")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"message": "a string"}', b'{"message": {"content": 5}}', b"[1, 2]"],
    ids=["not-json", "message-not-object", "content-not-list", "array"],
)
async def test_a_malformed_body_on_the_v03_rest_stream_is_a_400(body: bytes) -> None:
    async with (
        scripted_agent() as agent,
        bridge(agent, ScriptedSecrets()) as base,
        httpx.AsyncClient(trust_env=False, timeout=20) as http,
    ):
        url = base + "/agents/peer/v1/message:stream"
        response = await http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert agent.counter.total == 0


def _deep(levels: int) -> Any:
    return json.loads("[" * levels + "]" * levels)


#: name -> (raw body, headers, streaming, expected code)
BAD: dict[str, tuple[bytes, dict[str, str], bool, int]] = {
    "nested-body": (
        b'{"jsonrpc":"2.0","id":1,"method":"message/send","params":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        {},
        False,
        -32600,
    ),
    "nested-metadata-0.3": (
        json.dumps(
            jsonrpc("message/send", {"message": message_v03("hi", metadata={"a": _deep(900)})})
        ).encode(),
        {},
        False,
        -32600,
    ),
    "surrogate-0.3": (
        json.dumps(jsonrpc("message/send", {"message": message_v03("x\ud800y")})).encode(),
        {},
        False,
        -32602,
    ),
    "surrogate-metadata-0.3": (
        json.dumps(
            jsonrpc("message/send", {"message": message_v03("hi", metadata={"k": "\ud800"})})
        ).encode(),
        {},
        False,
        -32602,
    ),
    "surrogate-stream-0.3": (
        json.dumps(jsonrpc("message/stream", {"message": message_v03("x\ud800y")})).encode(),
        {},
        True,
        -32602,
    ),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(BAD))
async def test_a_bad_request_is_told_by_type_never_in_pythons_words(case: str) -> None:
    body, headers, streaming, code = BAD[case]
    async with (
        scripted_agent() as agent,
        bridge(agent, ScriptedSecrets()) as base,
        httpx.AsyncClient(trust_env=False, timeout=20) as http,
    ):
        response = await http.post(
            base + "/agents/peer", content=body, headers={"Content-Type": "application/json", **headers}
        )
    assert response.status_code == 200
    error = (sse_payloads(response.text)[-1] if streaming else response.json())["error"]
    assert error["code"] == code
    assert not [word for word in PYTHON_TEXT if word in response.text]


class BrokenSecrets(ScriptedSecrets):
    """A secret source with a bug: it raises a plain exception whose text must go nowhere."""

    async def fulfil(
        self,
        agent: AgentRecord,
        demands: Sequence[SecretDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
        stale: Collection[str] = (),
    ) -> FakeFulfilment:
        raise RuntimeError("boom-detail-5c1d: internal state at 0x7f")


SENDS: dict[str, tuple[dict[str, Any], dict[str, str], bool]] = {
    "send-0.3": (jsonrpc("message/send", {"message": message_v03("hi")}), {}, False),
    "send-1.0": (jsonrpc("SendMessage", {"message": message_v10("hi")}), V10, False),
    "stream-0.3": (jsonrpc("message/stream", {"message": message_v03("hi")}), {}, True),
    "stream-1.0": (jsonrpc("SendStreamingMessage", {"message": message_v10("hi")}), V10, True),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(SENDS))
async def test_an_unexpected_failure_is_a_generic_internal_error_logged_by_type(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers, streaming = SENDS[case]
    caplog.set_level(logging.INFO, logger="keybroker")
    async with (
        scripted_agent({"token": {"name": "Token"}}) as agent,
        bridge(agent, BrokenSecrets()) as base,
        httpx.AsyncClient(trust_env=False, timeout=20) as http,
    ):
        response = await http.post(base + "/agents/peer", json=body, headers=headers)
    error = (sse_payloads(response.text)[-1] if streaming else response.json())["error"]
    assert error["code"] == -32603
    assert error["message"] == "the bridge failed on this request (see its log)"
    assert "boom-detail" not in response.text
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("keybroker")]
    assert "bridge: a JSON-RPC request failed: RuntimeError" in ours
    assert not [line for line in ours if "boom-detail" in line]
