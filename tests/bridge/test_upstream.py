# SPDX-License-Identifier: Apache-2.0
"""upstream.py: where secrets may go, and clean errors for whatever fails upstream."""

from __future__ import annotations

import json

import httpx
import pytest
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.types import AgentCard, AgentInterface
from a2a.utils.errors import InternalError, InvalidAgentResponseError, TaskNotFoundError

from keybroker.core.bridge.upstream import Upstream, UpstreamLimits, secure_for_secrets, upstream_error


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("http://127.0.0.1:8000/", True),
        ("http://127.1.2.3:8000/", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000/x", True),
        ("https://agents.example.org/a", True),
        ("http://agents.example.org/a", False),
        ("http://10.0.0.5:8000", False),
        ("http://localhost.evil.example", False),
        ("ftp://127.0.0.1/", False),
        ("http://[not-an-ip/", False),
    ],
)
def test_secure_for_secrets(url: str, secure: bool) -> None:
    assert secure_for_secrets(url) is secure


def _caused(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


def test_upstream_errors_are_clean_and_name_the_agent() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:1/")
    cases = [
        (
            _caused(A2AClientError("Network communication error: x"), httpx.ConnectError("refused")),
            "not reachable",
        ),
        (_caused(A2AClientError("x"), httpx.RemoteProtocolError("peer closed")), "closed the connection"),
        (A2AClientTimeoutError("Client Request timed out"), "did not answer in time"),
        (
            _caused(
                A2AClientError("x"),
                httpx.HTTPStatusError("401", request=request, response=httpx.Response(401)),
            ),
            "answered HTTP 401 (it wants credentials)",
        ),
        (ValueError("no compatible transports found."), "ValueError"),
    ]
    for exc, text in cases:
        error = upstream_error(exc, "peer")
        assert isinstance(error, InternalError)
        assert text in error.message and "'peer'" in error.message


def test_agent_errors_keep_their_type_and_lose_injected_values() -> None:
    error = upstream_error(
        TaskNotFoundError("task T has secret ghp_SECRET_42 in it"), "peer", ["ghp_SECRET_42"]
    )
    assert type(error) is TaskNotFoundError
    assert "ghp_SECRET_42" not in error.message and "'peer'" in error.message
    odd = upstream_error(A2AClientError("SSE stream error: {echo: ghp_SECRET_42}"), "peer", ["ghp_SECRET_42"])
    assert type(odd) is InvalidAgentResponseError
    assert "ghp_SECRET_42" not in odd.message


def _card(*interfaces: tuple[str, str, str], streaming: bool = True) -> AgentCard:
    card = AgentCard(name="x")
    card.capabilities.streaming = streaming
    for url, binding, version in interfaces:
        card.supported_interfaces.append(
            AgentInterface(url=url, protocol_binding=binding, protocol_version=version)
        )
    return card


@pytest.mark.asyncio
async def test_which_agents_get_secrets_and_followed_streams() -> None:
    v03 = _card(
        ("http://127.0.0.1:1/jsonrpc/", "JSONRPC", "0.3.0"), ("http://127.0.0.1:1", "HTTP+JSON", "0.3.0")
    )
    v10 = _card(("http://127.0.0.1:1/", "JSONRPC", "1.0"), ("http://127.0.0.1:1/", "JSONRPC", "0.3"))
    remote = _card(("http://127.0.0.1:1/", "JSONRPC", "1.0"), ("http://example.org/", "HTTP+JSON", "1.0"))
    quiet = _card(("http://127.0.0.1:1/jsonrpc/", "JSONRPC", "0.3.0"), streaming=False)
    async with (
        Upstream(v03, slug="a") as a,
        Upstream(v10, slug="b") as b,
        Upstream(remote, slug="c") as c,
        Upstream(quiet, slug="d") as d,
        Upstream(v10, slug="e", follow_streams=True) as e,
    ):
        assert (a.secrets_allowed, b.secrets_allowed, c.secrets_allowed) == (True, True, False)
        assert a.follow_streams and not b.follow_streams and not d.follow_streams and e.follow_streams


def test_limits_are_bounded() -> None:
    with pytest.raises(ValueError):
        UpstreamLimits(connections=0)
    assert UpstreamLimits().connections == 16


@pytest.mark.asyncio
async def test_idle_connections_are_dropped_before_uvicorn_drops_them() -> None:
    """Reusing a connection the agent's server is closing at that moment fails the send: expire ours
    first (uvicorn, which most Python agents run on, closes idle keep-alive connections after 5 s)."""
    import uvicorn

    from keybroker.core.bridge import upstream as module

    assert uvicorn.Config(app=None).timeout_keep_alive > module.KEEPALIVE_EXPIRY
    card = _card(("http://127.0.0.1:1/", "JSONRPC", "1.0"))
    async with Upstream(card, slug="a") as upstream:
        pool = upstream._http._transport._inner._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry == module.KEEPALIVE_EXPIRY


@pytest.mark.asyncio
async def test_no_cookie_an_agent_sets_goes_back_to_it() -> None:
    """One upstream client serves every caller of an agent: a cookie set for one must not reach the next."""
    from a2a.types import Message, Part, Role, SendMessageRequest

    seen: list[str | None] = []

    def agent(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        task = {"id": "T", "contextId": "C", "status": {"state": "TASK_STATE_COMPLETED"}}
        body = {"jsonrpc": "2.0", "id": json.loads(request.content)["id"], "result": {"task": task}}
        return httpx.Response(200, json=body, headers={"set-cookie": "session=caller-one; Path=/"})

    card = _card(("http://127.0.0.1:1/", "JSONRPC", "1.0"))
    async with Upstream(card, slug="a", transport=httpx.MockTransport(agent)) as upstream:
        for n in range(3):
            message = Message(role=Role.ROLE_USER, message_id=f"m{n}", parts=[Part(text="hi")])
            answer = await upstream.send(SendMessageRequest(message=message), wait=True)
            assert answer.task.id == "T"
    assert seen == [None, None, None]
