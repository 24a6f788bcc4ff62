"""The loopback listeners of agents that have a port of their own (issue 18; core/agents/own_port.py).

While the bridge serves, each agent whose record names a `bridge_port` is also served at the root of
that port (`BridgeApp.agent_root`: the same guard, token rule, masking and channels as on the shared
port). `sync()` makes the listeners match the catalog: it closes those of agents that lost or changed
their port (or were removed) and opens the missing ones. It runs when the bridge starts, and after
every audited agent change (added, changed, removed) from anywhere in this process (the settings
window, the management API, hence the CLI), so a change takes effect at once; no timer runs.

A port that cannot be bound (another program took it since it was set) is logged, told through the
notifier and kept in `problems`; the agent stays reachable under `/agents/<slug>/`, and the next
sync tries again. No Qt here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from keybroker.core.errors import BridgeError
from keybroker.core.models import AgentRecord, AuditDecision, AuditEvent
from keybroker.core.ports import Notifier

__all__ = ["AgentPorts"]

log = logging.getLogger("keybroker")

_AGENT_CHANGES = frozenset(
    {AuditDecision.AGENT_ADDED, AuditDecision.AGENT_CHANGED, AuditDecision.AGENT_REMOVED}
)


class AgentPorts:
    """Opens and closes the agents' own listeners to match the catalog (module docstring)."""

    def __init__(
        self,
        bridge: Any,
        agents: Callable[[], Sequence[AgentRecord]],
        notifier: Notifier | None = None,
    ) -> None:
        """`bridge`: the `BridgeApp` (its `agent_root(slug)`); `agents()`: the catalog's agents."""
        self._bridge = bridge
        self._agents = agents
        self._notifier = notifier
        self._open: dict[str, tuple[int, Any]] = {}  # slug -> (port, running_bridge context)
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Why an agent's port is not served, by slug.
        self.problems: dict[str, str] = {}

    @property
    def listening(self) -> dict[str, int]:
        """The agents served on their own port right now: slug -> port."""
        return {slug: port for slug, (port, _) in self._open.items()}

    async def sync(self) -> None:
        """Close listeners no record asks for any more, open the missing ones."""
        from keybroker.core.bridge.server import running_bridge

        self._loop = asyncio.get_running_loop()
        async with self._lock:
            wanted = {a.slug: a.bridge_port for a in self._agents() if a.bridge_port is not None}
            for slug, (port, server) in list(self._open.items()):
                if wanted.get(slug) != port:
                    del self._open[slug]
                    await server.__aexit__(None, None, None)
                    log.info("agent %s: no longer served on port %d", slug, port)
            for slug in set(self.problems) - set(wanted):
                del self.problems[slug]
            for slug, port in sorted(wanted.items()):
                if slug in self._open:
                    continue
                server = running_bridge(self._bridge.agent_root(slug), port)
                try:
                    await server.__aenter__()
                except BridgeError as exc:
                    self._refused(slug, port, exc)
                    continue
                self._open[slug] = (port, server)
                self.problems.pop(slug, None)
                log.info("agent %s: served at http://127.0.0.1:%d/", slug, port)

    def _refused(self, slug: str, port: int, exc: BridgeError) -> None:
        why = f"cannot listen on 127.0.0.1:{port} for agent {slug} ({exc.message})"
        why += f"; it stays reachable at /agents/{slug}/"
        if self.problems.get(slug) == why:
            return
        self.problems[slug] = why
        log.error("%s", why)
        if self._notifier is not None:
            self._notifier.notify("Agent port unavailable", why)

    def on_event(self, event: AuditEvent) -> None:
        """An audit listener: after an agent change, sync on the loop (from whichever thread appended)."""
        loop = self._loop
        if event.decision not in _AGENT_CHANGES or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._start_sync)

    def _start_sync(self) -> None:
        task = asyncio.get_running_loop().create_task(self.sync())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Close every listener; no sync runs after this until `sync()` is called again."""
        self._loop = None
        for task in list(self._tasks):
            task.cancel()
        async with self._lock:
            for slug, (_, server) in list(self._open.items()):
                del self._open[slug]
                await server.__aexit__(None, None, None)
