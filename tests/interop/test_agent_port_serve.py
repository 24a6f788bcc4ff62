# SPDX-License-Identifier: Apache-2.0
"""An agent's own port as the user meets it (issue 18, item 4): `keybroker serve` and the CLI.

A real `keybroker serve --headless` (session-only vault) and the real a2a-sdk 1.x echo agent: `agents
add URL --port N` opens the port at once (through the running instance's API), the agent answers at
that port's root, a taken port is a clear error that changes nothing, the port survives a restart of
the bridge, and removing the agent (or `agents port SLUG --off`) frees it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from keybroker.core.agents.own_port import port_free
from tests.cli.conftest import Serving
from tests.conftest import IsolatedEnv, RunCli
from tests.interop.conftest import RunningPeer, free_port

#: How long `serve` may take to open a port after the change that asks for it (not a timing assert).
OPEN_WAIT = 20.0


def send(port: int) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "role": "user",
                "messageId": "m1",
                "parts": [{"kind": "text", "text": "hi"}],
            }
        },
    }
    with httpx.Client(trust_env=False, timeout=30) as http:
        return http.post(f"http://127.0.0.1:{port}/", json=body)


def card_at(port: int) -> dict[str, object] | None:
    """The card at the port's root, waiting up to OPEN_WAIT s for the port to open; None if it never does."""
    deadline = time.monotonic() + OPEN_WAIT
    with httpx.Client(trust_env=False, timeout=5) as http:
        while True:
            try:
                answer = http.get(f"http://127.0.0.1:{port}/.well-known/agent-card.json")
                if answer.status_code == 200:
                    card: dict[str, object] = answer.json()
                    return card
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)


def closed(port: int) -> bool:
    """True once nothing listens on the port (waiting up to OPEN_WAIT s for the bridge to close it)."""
    deadline = time.monotonic() + OPEN_WAIT
    while not port_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def serve(isolated_env: IsolatedEnv) -> Iterator[list[Serving]]:
    """Started `serve` processes of this test's home (each stopped at the end)."""
    started: list[Serving] = []
    yield started
    for one in started:
        one.stop()


def test_add_with_a_port_serves_the_agent_at_its_root_until_removed(
    run_cli: RunCli, isolated_env: IsolatedEnv, echo_agent: RunningPeer, serve: list[Serving]
) -> None:
    serve.append(Serving(str(isolated_env.keybroker_home)))
    port = free_port()
    added = run_cli("agents", "add", echo_agent.base_url, "--slug", "echo", "--port", str(port), "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["bridged_url"] == f"http://127.0.0.1:{port}/"
    card = card_at(port)
    assert card is not None and card["url"] == f"http://127.0.0.1:{port}"
    assert send(port).json()["result"]["status"]["state"] == "completed"

    serve.pop().stop()  # a restart: the port comes back with the bridge
    assert closed(port)
    serve.append(Serving(str(isolated_env.keybroker_home)))
    assert card_at(port) is not None
    assert json.loads(run_cli("agents", "show", "echo", "--json").stdout)["bridged_url"] == (
        f"http://127.0.0.1:{port}/"
    )

    removed = run_cli("agents", "rm", "echo", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert closed(port)  # freed: another program (or agent) may take it now


def test_a_taken_port_is_a_clear_error_and_changes_nothing(
    run_cli: RunCli, isolated_env: IsolatedEnv, echo_agent: RunningPeer, serve: list[Serving]
) -> None:
    serve.append(Serving(str(isolated_env.keybroker_home)))
    bridge_port = int(serve[0].url.rsplit(":", 1)[1].strip("/"))
    port = free_port()
    assert (
        run_cli("agents", "add", echo_agent.base_url, "--slug", "echo", "--port", str(port)).returncode == 0
    )
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        taken = other.getsockname()[1]
        answers = {
            "program": run_cli("agents", "add", echo_agent.base_url, "--slug", "two", "--port", str(taken)),
            "agent": run_cli("agents", "add", echo_agent.base_url, "--slug", "two", "--port", str(port)),
            "bridge": run_cli("agents", "port", "echo", str(bridge_port)),
            "range": run_cli("agents", "port", "echo", "70000"),
        }
    assert {k: a.returncode for k, a in answers.items()} == {
        "program": 2,
        "agent": 2,
        "bridge": 2,
        "range": 2,
    }
    assert f"port {taken} is in use by another program" in answers["program"].stderr
    assert f"port {port} is already agent 'echo'" in answers["agent"].stderr
    assert f"port {bridge_port} is the bridge's own port" in answers["bridge"].stderr
    assert "Traceback" not in "".join(a.stderr for a in answers.values())
    listed = json.loads(run_cli("agents", "list", "--json").stdout)
    assert [(a["slug"], a["bridge_port"]) for a in listed] == [("echo", port)]
    assert card_at(port) is not None

    moved = free_port()
    assert run_cli("agents", "port", "echo", str(moved)).returncode == 0
    assert card_at(moved) is not None and closed(port)
    off = run_cli("agents", "port", "echo", "--off")
    assert off.returncode == 0, off.stderr
    assert closed(moved)
    assert json.loads(run_cli("agents", "show", "echo", "--json").stdout)["bridged_url"] == (
        f"http://127.0.0.1:{bridge_port}/agents/echo/"
    )


def test_a_port_taken_while_the_bridge_was_down_is_told_and_not_fatal(
    run_cli: RunCli, isolated_env: IsolatedEnv, echo_agent: RunningPeer, serve: list[Serving]
) -> None:
    serve.append(Serving(str(isolated_env.keybroker_home)))
    port = free_port()
    assert (
        run_cli("agents", "add", echo_agent.base_url, "--slug", "echo", "--port", str(port)).returncode == 0
    )
    assert card_at(port) is not None
    serve.pop().stop()
    assert closed(port)
    with socket.socket() as squatter:  # another program takes the port while the bridge is down
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        serve.append(Serving(str(isolated_env.keybroker_home)))  # the bridge still starts
        bridge = serve[0].url.rstrip("/")
        with httpx.Client(trust_env=False, timeout=30) as http:
            shared = http.get(f"{bridge}/agents/echo/.well-known/agent-card.json")
        assert shared.status_code == 200  # and the agent stays reachable under /agents/echo/
        logs = "".join(p.read_text() for p in (isolated_env.keybroker_home / "logs").glob("*.log"))
        assert f"cannot listen on 127.0.0.1:{port} for agent echo" in logs
        assert "it stays reachable at /agents/echo/" in logs
