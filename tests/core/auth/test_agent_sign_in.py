"""An agent's own sign-in (Agent Stack's OAuth extension, core/auth/agent_sign_in.py) when the prompt or
the browser fails: declined, recorded, nothing handed to the agent, no URL in the record."""

from __future__ import annotations

from pathlib import Path

import pytest

from keybroker.core.audit.log import AuditLog
from keybroker.core.auth.agent_sign_in import agent_sign_in
from keybroker.core.broker.sign_in_prompts import DeviceCodeNotice, SignInAsk
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import AgentRecord, AuditDecision, SecretValue
from tests.core.audit.test_log import MemoryHead
from tests.fakes import FakeClock

AGENT = AgentRecord(
    slug="notes",
    url="http://127.0.0.1:9001",
    card_url="http://127.0.0.1:9001/.well-known/agent-card.json",
    name="Notes Agent",
    description="",
    protocol_versions=("0.3.0",),
    fingerprint="f" * 64,
)
URL = SecretValue("https://idp.example.com/authorize?client_id=c&state=st-canary-51&code_challenge=x")


class FailingPrompter:
    def __init__(self, yes: bool) -> None:
        self.yes = yes

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        if not self.yes:
            raise RuntimeError("no display")
        return True

    async def show_device_code(self, notice: DeviceCodeNotice) -> None:
        raise AssertionError("no device code in this flow")


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["prompt", "browser"])
async def test_a_prompt_or_browser_that_fails_declines_and_is_recorded(tmp_path: Path, where: str) -> None:
    log = AuditLog(Catalog(tmp_path / "catalog.db", clock=FakeClock()), MemoryHead())
    armed: list[bool] = []

    async def arm() -> SecretValue:
        armed.append(True)
        return SecretValue("http://127.0.0.1:1/cb?code=never")

    async def open_browser(url: str) -> None:
        raise OSError("no browser")

    answer = await agent_sign_in(
        AGENT,
        URL,
        arm,
        prompter=FailingPrompter(yes=where == "browser"),
        open_browser=open_browser,
        audit=log,
        seconds=5,
    )
    assert answer is None
    events = log.events()
    assert [e.decision for e in events] == [AuditDecision.DENIED]
    assert events[0].key == "oauth:idp.example.com"
    assert "could not be shown" in (events[0].detail or "")
    assert "st-canary-51" not in repr(events)
