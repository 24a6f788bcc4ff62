# SPDX-License-Identifier: Apache-2.0
"""Does the agent answer at all? Asked before the user is (issue 12, item 8).

With the agent down, a run used to prompt the user for its pre-flight demands (and wait the full prompt
timeout), release and audit the values, and only then find nothing at the other end. So before a run
asks the broker for anything, the bridge GETs the agent's card (the URL it was added from; the card
needs no credentials): any HTTP answer counts, a refused connection, a reset or no answer within
`timeout` does not. A stopped agent (SIGSTOP) accepts connections but never answers: the timeout
catches it.

A success is kept for `fresh` seconds, so a busy agent is probed once every few seconds, not per run;
concurrent runs share one probe in flight; a failure is not kept (the next run asks again, so an
agent that comes back is used at once). The probe has its own small connection pool: the agent's
pool may be full of long streams, and waiting behind them would say nothing about the agent.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import httpx

__all__ = ["PROBE_FRESH_SECONDS", "PROBE_TIMEOUT_SECONDS", "AgentProbe"]

log = logging.getLogger("keybroker.bridge")

#: How long to wait for the card.
PROBE_TIMEOUT_SECONDS = 3.0
#: How long an answer counts as "the agent answers".
PROBE_FRESH_SECONDS = 5.0


class AgentProbe:
    """Whether one agent answers (see the module docstring). `aclose()` when done."""

    def __init__(
        self,
        url: str,
        *,
        verify: ssl.SSLContext,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = PROBE_TIMEOUT_SECONDS,
        fresh: float = PROBE_FRESH_SECONDS,
    ) -> None:
        """`transport` replaces the network (tests); the probe then does not close it."""
        self.url = url
        self._fresh = fresh
        self._own_transport = transport is None
        pool = httpx.Limits(max_connections=2, max_keepalive_connections=0)
        wire = transport or httpx.AsyncHTTPTransport(verify=verify, trust_env=False, limits=pool)
        self._http = httpx.AsyncClient(
            transport=wire, trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout)
        )
        self._ok_until = float("-inf")
        self._pending: asyncio.Task[bool] | None = None

    async def answers(self) -> bool:
        """True when the agent answered an HTTP request just now (or a moment ago)."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._ok_until:
            return True
        if self._pending is None:
            self._pending = loop.create_task(self._probe(), name="keybroker agent probe")
            self._pending.add_done_callback(self._done)
        # Shielded: a run that is cancelled (its client left) does not end the probe others wait on.
        return await asyncio.shield(self._pending)

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._pending = None
        if not task.cancelled() and task.exception() is None and task.result():
            self._ok_until = asyncio.get_running_loop().time() + self._fresh

    async def _probe(self) -> bool:
        try:
            await self._http.get(self.url)
        except Exception as exc:  # refused, reset, timed out, or a test transport's own failure
            log.info("agent card %s does not answer: %s", _safe(self.url), type(exc).__name__)
            return False
        return True

    async def aclose(self) -> None:
        """Stop a probe in flight and close the probe's pool."""
        if self._pending is not None:
            self._pending.cancel()
        if self._own_transport:
            await self._http.aclose()


def _safe(url: str) -> str:
    """`url` without its query (an agent's card URL should have none; if it has, keep it out of logs)."""
    return url.split("?", 1)[0]
