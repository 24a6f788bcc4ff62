# SPDX-License-Identifier: Apache-2.0
"""caller.py: naming the local process on the other end of a bridge connection."""

from __future__ import annotations

import os
import socket
import sys

import pytest
from a2a.server.context import ServerCallContext

from keybroker.core.bridge.caller import caller_from_context, peer_process


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
