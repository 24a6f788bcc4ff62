# SPDX-License-Identifier: Apache-2.0
"""Which local process is calling the bridge, where the OS tells (DESIGN §4: the audit names it).

The addresses come from the request's context (jsonrpc_route.py puts the ASGI scope's `client` and
`server` there); system/peer_process.py finds the process and remembers the answer per connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keybroker.system.peer_process import Address, lookup_peer, recent_peer

if TYPE_CHECKING:  # a2a-sdk is imported only once a bridged request needs it (app.py)
    from a2a.server.context import ServerCallContext

__all__ = ["PEER_CALLERS", "PeerCallers", "caller_from_context", "remembered_caller"]


def _address(value: object) -> Address | None:
    if isinstance(value, list | tuple) and len(value) >= 2 and isinstance(value[1], int):
        host = value[0]
        if isinstance(host, str):
            return host, value[1]
    return None


def _connection(context: ServerCallContext) -> tuple[Address, Address] | None:
    client = _address(context.state.get("client"))
    server = _address(context.state.get("server"))
    if client is None or server is None:
        return None
    return client, server


def remembered_caller(context: ServerCallContext) -> tuple[bool, str | None]:
    """`(True, caller)` when `caller_from_context` would answer without scanning, else `(False, None)`.

    No file is read: cheap enough for the event loop, so a keep-alive client's later requests skip
    the worker thread `caller_from_context` needs.
    """
    key = _connection(context)
    if key is None:
        return True, None  # nothing to look up: caller_from_context answers None at once
    return recent_peer(*key)


def caller_from_context(context: ServerCallContext) -> str | None:
    """The calling process for a request whose context holds `client`/`server` (jsonrpc_route.py)."""
    key = _connection(context)
    return None if key is None else lookup_peer(*key)


class PeerCallers:
    """The bridge's `CallerLookup` (ports.py): the process on the other end of the connection."""

    def remembered(self, context: ServerCallContext) -> tuple[bool, str | None]:
        """`remembered_caller`."""
        return remembered_caller(context)

    def lookup(self, context: ServerCallContext) -> str | None:
        """`caller_from_context`."""
        return caller_from_context(context)


PEER_CALLERS = PeerCallers()
