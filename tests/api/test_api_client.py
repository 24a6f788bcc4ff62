# SPDX-License-Identifier: Apache-2.0
"""The CLI's API client against a real uvicorn server on a free port (in a thread), behind the guard."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from keybroker.cli.api_client import ApiClient, InstanceUnreachable
from keybroker.core.api.app import create_api
from keybroker.core.errors import (
    AgentUnreachable,
    AmbiguousSecretError,
    BridgeError,
    InvalidInputError,
    KeybrokerError,
    PolicyDenied,
    UnknownAgentError,
    UnknownGrantError,
    UnknownSecretError,
    UsageError,
)
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.system import api_token
from keybroker.system.instance import write_instance
from keybroker.wiring.services import Services
from tests.api.conftest import DEMO_URL, OTHER_URL, SpyBroker
from tests.fakes import FakeClock

VALUE = "client-s3cr3t-value-41d2"
NEW_VALUE = "client-s3cr3t-value-new-77e0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """uvicorn in a thread on 127.0.0.1:<free port>, stopped at the end of the test."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(app, lifespan="off", ws="none", log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn stopped at start-up"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def guarded(app: FastAPI) -> Any:
    """The API behind the bridge's guard where it exists, as the app serves it."""
    try:
        from keybroker.core.bridge.guard import LocalhostGuard
    except ImportError:
        return app
    return LocalhostGuard(app)


@pytest.fixture
def live(services: Services, broker: SpyBroker) -> Iterator[ThreadedServer]:
    token = api_token.load_or_create(services.vault, services.paths.token_file)
    with ThreadedServer(guarded(create_api(services, broker, token))) as server:
        write_instance(services.paths, server.port)
        try:
            yield server
        finally:
            services.paths.instance_file.unlink(missing_ok=True)


@pytest.fixture
def client(live: ThreadedServer, services: Services) -> Iterator[ApiClient]:
    found = ApiClient.for_instance(services.paths)
    assert found is not None
    with found:
        yield found


def test_no_instance_means_no_client(services: Services) -> None:
    assert ApiClient.for_instance(services.paths) is None


def test_the_client_drives_every_endpoint(
    client: ApiClient,
    services: Services,
    live: ThreadedServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.base_url == f"http://127.0.0.1:{live.port}"
    status = client.status()
    assert (status["pid"], status["port"], status["running"]) == (os.getpid(), live.port, True)

    added = client.agent_add(DEMO_URL, slug="demo")
    assert added["bridged_url"] == f"http://127.0.0.1:{live.port}/agents/demo/"
    assert client.agent_add(OTHER_URL, require_token=True)["slug"] == "other-agent"
    assert [a["slug"] for a in client.agents_list()] == ["demo", "other-agent"]
    assert client.agent_show("demo")["name"] == "Demo Agent"
    assert client.agent_refresh("demo")["changed"] is False

    put = client.secret_set("github", SecretValue(VALUE), owner="demo", name="GitHub")
    sid = put["secret"]["secret_id"]
    assert put["created"] is True
    assert client.secret_set("slack", SecretValue(VALUE))["secret"]["owner"] is None
    assert services.vault.get(sid) == SecretValue(VALUE)
    assert [s["key"] for s in client.secrets_list(owner="demo")] == ["github"]
    assert [s["key"] for s in client.secrets_list(shared=True)] == ["slack"]
    shown = client.secret_show("github", owner="demo")
    assert shown["secret_id"] == sid
    assert [g["scope"] for g in shown["grants"]] == ["always"]
    updated = client.secret_update("github", owner="demo", description="PAT", value=SecretValue(NEW_VALUE))
    assert updated["description"] == "PAT"
    assert services.vault.get(sid) == SecretValue(NEW_VALUE)

    grants = client.grants_list(agent="demo")
    assert [g["secret_id"] for g in grants] == [sid]
    assert client.lock() == {"ended": 0, "grant_ids": []}
    assert client.grant_revoke(grants[0]["grant_id"])["agent"] == "demo"
    assert client.grants_list() == []

    assert client.secret_remove(sid)["key"] == "github"
    assert services.vault.get(sid) is None
    removed = client.agent_remove("other-agent", purge=True)
    assert removed == {"slug": "other-agent", "secrets_deleted": [], "secrets_kept": []}

    decisions = [e["decision"] for e in client.audit_events()]
    assert decisions[:3] == ["agent_added", "agent_added", "created"]
    assert [e["decision"] for e in client.audit_events(agent="demo", limit=1)] == ["deleted"]
    assert [e["key"] for e in client.audit_events(search="slack")] == ["slack"]
    assert client.audit_events(since=clock.now() + 1) == []
    assert client.audit_verify()["ok"] is True

    # Over a real socket the audit names the calling process: this one.
    changes = [e for e in services.audit.events() if e.decision != AuditDecision.REPAIRED]
    assert changes
    for event in changes:
        assert event.caller is not None
        assert event.caller.startswith(f"api pid {os.getpid()} ("), event.caller

    everything = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    token = services.paths.token_file.read_text().strip()
    for secret in (VALUE, NEW_VALUE, token):
        assert secret not in everything
    assert repr(client) == f"ApiClient('http://127.0.0.1:{live.port}')"


def test_keys_with_slashes_and_dots_round_trip(client: ApiClient, services: Services) -> None:
    key = "team/../db.password"
    sid = client.secret_set(key, SecretValue(VALUE))["secret"]["secret_id"]
    assert client.secret_show(key)["secret_id"] == sid
    assert client.secret_update(key, name="DB")["name"] == "DB"
    assert client.secret_remove(key, shared=True)["secret_id"] == sid
    assert services.catalog.list_secrets() == []


def test_server_errors_come_back_as_the_same_classes(client: ApiClient) -> None:
    cases: list[tuple[Any, type[KeybrokerError], int]] = [
        (lambda: client.agent_show("nobody"), UnknownAgentError, 3),
        (lambda: client.secret_show("nothing"), UnknownSecretError, 3),
        (lambda: client.grant_revoke("gr_nothing"), UnknownGrantError, 3),
        (lambda: client.agent_add("http://127.0.0.1:9"), AgentUnreachable, 6),
        (lambda: client.agent_add(DEMO_URL, slug="Not A Slug"), InvalidInputError, 2),
        (lambda: client.secret_set("bad\nkey", SecretValue(VALUE)), InvalidInputError, 2),
        (lambda: client.secret_update("nothing"), InvalidInputError, 2),
    ]
    client.agent_add(DEMO_URL, slug="demo")
    for call, cls, exit_code in cases:
        with pytest.raises(cls) as caught:
            call()
        assert type(caught.value) is cls
        assert caught.value.exit_code == exit_code
    with pytest.raises(UsageError) as usage:
        client.agent_add(OTHER_URL, slug="demo")
    assert type(usage.value) is UsageError
    assert usage.value.hint == "pick another --slug, or `keybroker agents refresh demo`"

    client.secret_set("github", SecretValue(VALUE), owner="demo")
    client.secret_set("github", SecretValue(VALUE))
    with pytest.raises(AmbiguousSecretError) as ambiguous:
        client.secret_show("github")
    assert ambiguous.value.hint == "say which with --agent SLUG or --shared"

    with pytest.raises(InvalidInputError) as invalid:
        client.secret_set("K", SecretValue("x" * (64 * 1024 + 1)))
    assert "value" in invalid.value.message
    assert "xxxxxxxx" not in invalid.value.message


def test_a_wrong_token_is_denied(live: ThreadedServer) -> None:
    with (
        ApiClient(f"http://127.0.0.1:{live.port}", SecretValue("not-the-token")) as client,
        pytest.raises(PolicyDenied) as caught,
    ):
        client.status()
    assert caught.value.exit_code == 5
    assert caught.value.hint and "keybroker token" in caught.value.hint


def test_an_instance_that_does_not_answer_exits_6() -> None:
    with (
        ApiClient(f"http://127.0.0.1:{free_port()}", SecretValue("t"), timeout=2.0) as client,
        pytest.raises(InstanceUnreachable) as caught,
    ):
        client.status()
    assert caught.value.exit_code == 6
    assert isinstance(caught.value, BridgeError)
    assert caught.value.hint == "`keybroker status` shows whether it runs"


def test_a_missing_token_file_is_reported(services: Services) -> None:
    write_instance(services.paths, free_port())
    services.paths.token_file.unlink(missing_ok=True)
    with pytest.raises(InstanceUnreachable) as caught:
        ApiClient.for_instance(services.paths)
    assert caught.value.hint == "`keybroker token` writes it again"


@pytest.mark.parametrize(
    ("status", "body", "cls", "exit_code"),
    [
        (403, b'{"error": "forbidden_origin", "message": "no browsers"}', PolicyDenied, 5),
        (413, b'{"error": "payload_too_large", "message": "too big"}', UsageError, 2),
        (404, b'{"error": "unknown_agent", "message": "no agent"}', UnknownAgentError, 3),
        (500, b"<html>oops</html>", KeybrokerError, 1),
        (503, b'{"error": {"code": "vault_locked", "message": "locked", "exit_code": 4}}', KeybrokerError, 4),
        (418, b'{"error": {"code": "made_up", "message": "?", "exit_code": 6}}', BridgeError, 6),
    ],
)
def test_foreign_error_bodies_map_by_status(
    status: int, body: bytes, cls: type[KeybrokerError], exit_code: int
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    with (
        ApiClient("http://127.0.0.1:7411", SecretValue("t"), transport=transport) as client,
        pytest.raises(cls) as caught,
    ):
        client.status()
    assert caught.value.exit_code == exit_code
    assert caught.value.message


def test_a_non_json_success_is_a_bridge_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"hello"))
    with (
        ApiClient("http://127.0.0.1:7411", SecretValue("t"), transport=transport) as client,
        pytest.raises(BridgeError),
    ):
        client.status()


def test_requests_carry_the_token_and_no_proxy_or_redirect() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"location": "http://example.com/"}, json={})

    transport = httpx.MockTransport(handler)
    with (
        ApiClient("http://127.0.0.1:7411/", SecretValue("tok"), transport=transport) as client,
        pytest.raises(KeybrokerError),
    ):
        client.lock()
    assert len(seen) == 1
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert str(seen[0].url) == "http://127.0.0.1:7411/api/v1/lock"
