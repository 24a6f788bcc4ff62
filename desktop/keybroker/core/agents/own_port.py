# SPDX-License-Identifier: Apache-2.0
"""An agent's own loopback port: where the bridge serves that one agent at the root (issue 18).

Clients that look for `/.well-known/agent-card.json` only at a host's root (RFC 8615; the A2A TCK,
and other tools) cannot find an agent under `/agents/<slug>/`. Given a port of its own, the agent is
the root there, with every bridge rule (Host, Origin, masking, token) as on the shared port; it stays
reachable under `/agents/<slug>/` too. The port is checked when it is set: a number from 1 to 65535,
not the bridge's own, not another agent's, and free right now (the running bridge binds it moments
later; if something takes it in between, the bridge says so in its log and status).
"""

from __future__ import annotations

import socket
from collections.abc import Collection

from keybroker.core.errors import InvalidInputError, UsageError

__all__ = ["check_own_port", "own_url", "port_free"]


def own_url(port: int) -> str:
    """The bridged URL of an agent served on its own port: its root, with the trailing slash."""
    return f"http://127.0.0.1:{port}/"


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port` (bound and released at once, as the bridge binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_own_port(port: object, *, slug: str, owners: dict[int, str], reserved: Collection[int] = ()) -> int:
    """`port` if `slug` may have it; else `InvalidInputError` (not a port) or `UsageError` (taken).

    `owners`: the ports other agents have, by port; `reserved`: ports the bridge itself listens on.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInputError(f"an agent's own port must be a number from 1 to 65535, not {port!r}")
    if port in reserved:
        raise UsageError(
            f"port {port} is the bridge's own port",
            hint="pick another port for the agent, e.g. one above 10000",
        )
    owner = owners.get(port)
    if owner is not None and owner != slug:
        raise UsageError(f"port {port} is already agent {owner!r}'s", hint="pick another port")
    if owner != slug and not port_free(port):
        raise UsageError(
            f"port {port} is in use by another program on 127.0.0.1",
            hint="pick another port, or stop what listens there",
        )
    return port
