# SPDX-License-Identifier: Apache-2.0
"""A value leaves Keybroker only once its `released` event is written: fail closed on a full disk.

The real broker behind the real bridge in front of the a2a-sdk 1.x peer, driven by a plain a2a-sdk
client and by raw JSON-RPC. The catalog's disk "fills up" the way SQLite meets a full disk: its page
limit is the size it has, and ordinary audit events are appended until one no longer fits. Then a
send whose values are granted must release nothing, answer the client with a clear A2A error, tell
the tray once, and leave an audit log that verifies and claims no release; once space returns, the
same send goes through and is audited.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from a2a.utils.errors import A2AError

from keybroker.core.broker.prompts import PromptAnswer
from keybroker.core.models import AgentRecord, AuditDecision, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import a2a_client_run, bridged, jsonrpc, message_v03, record_from_url
from tests.conftest import subprocess_env
from tests.core.broker.test_broker import make_broker
from tests.core.conftest import fill_the_disk, free_the_disk
from tests.fakes import RecordingNotifier, ScriptedPrompter
from tests.interop.conftest import RunningPeer

OPENAI = "sk-CANARY-full-disk-0123456789"
GITHUB = "ghp_CANARY_full_disk_abcdef"
EXTRA = "extra-CANARY-full-disk-4242"
TMPFS_CANARIES = ("sk-CANARY-tmpfs-full-0123456789", "ghp_CANARY_tmpfs_full_abcdef")  # full_disk_run.py


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


def _stored(services: Services, peer: RunningPeer, **values: str) -> AgentRecord:
    record = record_from_url(peer.base_url)
    services.catalog.upsert_agent(record)
    for key, value in values.items():  # stored for the agent: released without a prompt
        services.secrets.set(key, SecretValue(value), owner=record.slug)
    return services.catalog.get_agent(record.slug)


def _released(services: Services) -> list[str | None]:
    return [e.key for e in services.audit.events() if e.decision is AuditDecision.RELEASED]


def _canaries(data: bytes | str) -> list[str]:
    text = data.decode() if isinstance(data, bytes) else data
    return [v for v in (OPENAI, GITHUB, EXTRA, *TMPFS_CANARIES) if v in text]


@pytest.mark.asyncio
async def test_preflight_on_a_full_disk_releases_nothing_and_says_so(
    services: Services, a2a1_agent: RunningPeer
) -> None:
    record = _stored(services, a2a1_agent, openai=OPENAI, github=GITHUB)
    notifier = RecordingNotifier()
    broker = make_broker(services, ScriptedPrompter(), notifier=notifier)
    async with bridged(record, broker) as bridge:
        fill_the_disk(services)
        events_before = services.audit.count()
        async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
            for _ in range(3):
                request = jsonrpc("message/send", {"message": message_v03("go")})
                answer = await http.post(bridge.url(), json=request)
                body = answer.json()
                assert "result" not in body, body  # the agent was never sent the message
                assert body["error"]["code"] == -32603
                assert "audit log" in body["error"]["message"]
                assert "nothing was released" in body["error"]["message"]
                assert _canaries(answer.content) == []
        with pytest.raises(A2AError, match="nothing was released"):
            await a2a_client_run(bridge.url(), "go keys=openai", streaming=True)
        assert services.audit.count() == events_before
        assert _released(services) == []
        assert services.audit.verify().ok
        # The tray is told once, not at every refused send.
        assert len(notifier.notices) == 1
        title, text = notifier.notices[0]
        assert "nothing was released" in text.lower() and record.slug in text and "disk" in text
        assert _canaries(title + text) == []

        free_the_disk(services)
        run = await a2a_client_run(bridge.url(), "go keys=openai", streaming=False)
    assert run.state == "TASK_STATE_COMPLETED"
    assert "openai: len=" in run.text and "via=preconfigured" in run.text
    assert sorted(k for k in _released(services) if k) == ["github", "openai"]
    assert services.audit.verify().ok
    assert _canaries(run.received) == []


@pytest.mark.asyncio
async def test_a_runtime_demand_on_a_full_disk_ends_the_stream_with_a_clear_error(
    services: Services, a2a1_agent: RunningPeer
) -> None:
    # Only `extra` is stored: pre-flight has nothing to release, the agent demands `extra` at run time.
    record = _stored(services, a2a1_agent, extra=EXTRA)
    notifier = RecordingNotifier()
    declines = ScriptedPrompter(default=PromptAnswer.deny("not now"))  # pre-flight: openai, github
    broker = make_broker(services, declines, notifier=notifier)
    async with bridged(record, broker) as bridge:
        fill_the_disk(services)
        with pytest.raises(A2AError, match="nothing was released") as refused:
            await a2a_client_run(bridge.url(), "go keys=extra", streaming=True)
        assert _canaries(str(refused.value)) == []
        assert _released(services) == []
        assert services.audit.verify().ok
        assert len(notifier.notices) == 1


def test_serve_on_a_real_full_disk_releases_nothing_and_verify_stays_true(
    a2a1_agent: RunningPeer, tmp_path: Path
) -> None:
    """The issue's run: `serve` with its data on a small tmpfs that fills up (a mount namespace)."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (`unshare -rm` needs unprivileged user namespaces)")
    mount = tmp_path / "disk"
    mount.mkdir()
    driver = Path(__file__).with_name("full_disk_run.py")
    run = subprocess.run(
        ["unshare", "-rm", sys.executable, str(driver), str(mount), a2a1_agent.base_url],
        capture_output=True,
        text=True,
        env=subprocess_env({"KEYBROKER_VAULT": "memory"}),
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["setup"] == [0, 0, 0]
    assert "openai: len=" in out["before"]["body"] and "via=preconfigured" in out["before"]["body"]
    for answer in out["full"]:
        error = json.loads(answer["body"])["error"]
        assert error["code"] == -32603 and "nothing was released" in error["message"], answer
    assert "openai: len=" in out["after"]["body"]
    assert out["verify"]["rc"] == 0, out["verify"]
    released = [e["key"] for e in out["events"] if e["decision"] == "released"]
    assert sorted(released) == ["github", "github", "openai", "openai"]  # before and after, not while full
    assert _canaries(run.stdout + run.stderr) == []
