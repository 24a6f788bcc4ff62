# SPDX-License-Identifier: Apache-2.0
"""caller.py: naming the local process on the other end of a bridge connection."""

from __future__ import annotations

import os
import socket
import sys

import pytest
from a2a.server.context import ServerCallContext

from keybroker.core.bridge.caller import caller_from_context
from keybroker.system.peer_process import peer_process


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_finds_the_process_holding_the_client_end() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            found = peer_process(client.getsockname(), server.getsockname())
            # The reverse direction is the server's own end: also ours, but found by its own inode.
            assert found is not None and found.startswith(f"pid {os.getpid()} (")
            context = ServerCallContext(
                state={"client": client.getsockname(), "server": server.getsockname()}
            )
            assert caller_from_context(context) == found
        finally:
            accepted.close()
            client.close()


def test_unknown_connections_and_missing_addresses_give_none() -> None:
    assert peer_process(("127.0.0.1", 1), ("127.0.0.1", 2)) is None
    assert peer_process(("not-an-ip", 1), ("127.0.0.1", 2)) is None
    assert caller_from_context(ServerCallContext()) is None
    assert caller_from_context(ServerCallContext(state={"client": "junk", "server": None})) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_remembered_caller_answers_only_what_a_lookup_found(monkeypatch: pytest.MonkeyPatch) -> None:
    from keybroker.core.bridge import caller as caller_module
    from keybroker.system import peer_process as peer_module

    scans: list[tuple[tuple[str, int], tuple[str, int]]] = []

    def scan(client: tuple[str, int], server: tuple[str, int]) -> str | None:
        scans.append((client, server))
        return "pid 4242 (agent-client)"

    monkeypatch.setattr(peer_module, "peer_process", scan)
    # A port pair no other test uses, so nothing is remembered for it yet.
    context = ServerCallContext(state={"client": ("127.0.0.1", 61001), "server": ("127.0.0.1", 61002)})
    assert caller_module.remembered_caller(context) == (False, None)
    assert caller_from_context(context) == "pid 4242 (agent-client)"
    assert caller_module.remembered_caller(context) == (True, "pid 4242 (agent-client)")
    assert caller_from_context(context) == "pid 4242 (agent-client)"
    assert len(scans) == 1
    # No addresses: known at once to be nobody, like caller_from_context says.
    assert caller_module.remembered_caller(ServerCallContext()) == (True, None)
