# SPDX-License-Identifier: Apache-2.0
"""probe.py: whether an agent answers, on real sockets; kept briefly, shared, never kept when down."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from keybroker.core.bridge import running_bridge
from keybroker.core.bridge.probe import AgentProbe
from keybroker.core.bridge.tls import no_trust_context
from tests.interop.conftest import free_port

CARD = "/.well-known/agent-card.json"


class CardServer:
    """Serves a card and counts the requests."""

    def __init__(self) -> None:
        self.hits = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.hits += 1
        await JSONResponse({"name": "x"})(scope, receive, send)


@asynccontextmanager
async def card_server(port: int = 0) -> AsyncIterator[tuple[CardServer, int]]:
    app = CardServer()
    async with running_bridge(app, port, shutdown_grace=0.5) as bound:
        yield app, bound


def probe_for(port: int, **kwargs: float) -> AgentProbe:
    return AgentProbe(f"http://127.0.0.1:{port}{CARD}", verify=no_trust_context(), **kwargs)


@pytest.mark.asyncio
async def test_an_answer_is_kept_briefly_and_concurrent_runs_share_one_probe() -> None:
    async with card_server() as (app, port):
        probe = probe_for(port, fresh=60)
        try:
            results = await asyncio.gather(*(probe.answers() for _ in range(20)))
            assert results == [True] * 20
            assert await probe.answers()
        finally:
            await probe.aclose()
    assert app.hits == 1


@pytest.mark.asyncio
async def test_a_dead_agent_does_not_answer_and_is_used_again_once_it_is_back() -> None:
    port = free_port()
    probe = probe_for(port, fresh=60)
    try:
        assert not await probe.answers()
        async with card_server(port) as (app, _):
            assert await probe.answers()
        assert app.hits == 1
    finally:
        await probe.aclose()


@pytest.mark.asyncio
async def test_an_agent_that_accepts_but_never_answers_does_not_answer() -> None:
    """A stopped agent (SIGSTOP): the kernel completes the connection, nothing ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        probe = probe_for(listener.getsockname()[1], timeout=0.5)
        try:
            assert not await probe.answers()
        finally:
            await probe.aclose()
