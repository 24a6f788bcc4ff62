"""The headless terminal prompter, driven through a pseudo-terminal; and the no-terminal path."""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.cli.terminal_prompter import (
    DENY_UNKNOWN,
    NO_TERMINAL,
    TERMINAL_CLOSED,
    TerminalPrompter,
    clean,
)
from keybroker.core.a2a.card import parse_card
from keybroker.core.a2a.card_fetch import FetchedCard
from keybroker.core.broker.broker import Broker, BrokerConfig
from keybroker.core.broker.prompts import (
    NewValue,
    PromptAnswer,
    PromptItem,
    PromptRequest,
    SkipItem,
    UseOffered,
    UseStored,
)
from keybroker.core.models import (
    AgentRecord,
    AuditDecision,
    GrantScope,
    SecretDemand,
    SecretRecord,
    SecretValue,
)
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import open_services
from tests.core.conftest import make_card
from tests.fakes import FakeClock

AGENT = AgentRecord(
    slug="demo",
    url="http://127.0.0.1:9001",
    card_url="http://127.0.0.1:9001/.well-known/agent-card.json",
    name="Demo Agent",
    description="",
    protocol_versions=("0.3.0",),
    fingerprint="f" * 64,
)
SHARED = SecretRecord(secret_id="sec_shared", key="github", owner=None, name="GitHub token")
THEIRS = SecretRecord(secret_id="sec_theirs", key="github", owner="other", name="GitHub token")


def request(*items: PromptItem, **fields: object) -> PromptRequest:
    base: dict[str, object] = {
        "prompt_id": "pr_test",
        "agent": AGENT,
        "items": items,
        "phase": "runtime",
        "task_id": "task-1",
        "context_id": "ctx-1",
        "caller": "pid 77 (curl)",
        "default_scope": GrantScope.TASK,
        "timeout": 300.0,
    }
    base.update(fields)
    return PromptRequest(**base)  # type: ignore[arg-type]


GITHUB_SHARED = PromptItem("github", "GitHub token", "PAT", "shared secret github: first use by demo", SHARED)
SLACK_NEW = PromptItem("slack", "Slack token", None, "no value stored for slack yet")


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


class PtyUser:
    """The user's side of a pseudo-terminal: reads what the prompter shows, types answers."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self.transcript = ""
        self._seen = 0

    async def expect(self, text: str, timeout: float = 5.0) -> str:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while text not in self.transcript[self._seen :]:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(self.master, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(self.master)
                try:
                    self.transcript += os.read(self.master, 65536).decode("utf-8", "replace")
                except BlockingIOError:
                    continue
        self._seen = self.transcript.index(text, self._seen) + len(text)
        return self.transcript

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def echo_on(self) -> bool:
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def user() -> Iterator[PtyUser]:
    pty = PtyUser()
    yield pty
    pty.close()


@pytest.mark.asyncio
async def test_allow_the_stored_value_for_this_task(user: PtyUser) -> None:
    asking = asyncio.create_task(TerminalPrompter(tty_path=user.path).ask(request(GITHUB_SHARED)))
    shown = await user.expect("Allow? [y/N]")
    assert "Demo Agent (demo) at http://127.0.0.1:9001 - known agent" in shown
    assert "pid 77 (curl)" in shown and "task-1" in shown and "ctx-1" in shown
    assert "github - GitHub token: PAT" in shown and "first use by demo" in shown
    user.type("y")
    await user.expect("[Enter] the shared value")
    user.type("")
    scopes = await user.expect("For how long?")
    assert "[t] this task (default)" in scopes
    user.type("")
    answer = await asyncio.wait_for(asking, 5)
    assert answer == PromptAnswer.grant(GrantScope.TASK, {"github": UseStored()})


@pytest.mark.asyncio
async def test_typed_value_is_hidden_and_minutes_are_asked(user: PtyUser) -> None:
    canary = "CANARY-tty-5e1d"
    asking = asyncio.create_task(TerminalPrompter(tty_path=user.path).ask(request(SLACK_NEW)))
    await user.expect("Allow?")
    user.type("yes")
    await user.expect("Value for slack (hidden, empty to skip): ")
    assert not user.echo_on()
    user.type(canary)
    await user.expect("For how long?")
    assert user.echo_on()
    user.type("m")
    await user.expect("Minutes [15]:")
    user.type("20")
    answer = await asyncio.wait_for(asking, 5)
    assert answer.allow and answer.scope == GrantScope.MINUTES and answer.minutes == 20
    choice = answer.choices["slack"]
    assert isinstance(choice, NewValue) and choice.value == SecretValue(canary)
    await asyncio.sleep(0.05)
    with contextlib.suppress(BlockingIOError):
        user.transcript += os.read(user.master, 65536).decode()
    assert canary not in user.transcript  # never echoed
    assert canary not in repr(answer)


@pytest.mark.asyncio
async def test_offer_of_another_agents_value_and_skip(user: PtyUser) -> None:
    offered = PromptItem("github", "GitHub token", None, "stored only for other", None, (THEIRS,))
    asking = asyncio.create_task(
        TerminalPrompter(tty_path=user.path).ask(
            request(
                offered,
                SLACK_NEW,
                task_id=None,
                context_id=None,
                scopes=(GrantScope.ONCE, GrantScope.ALWAYS),
                default_scope=GrantScope.ONCE,
            )
        )
    )
    shown = await user.expect("Allow?")
    assert "also stored for agent other: giving it to demo needs your yes" in shown
    user.type("y")
    options = await user.expect("[s] skip: ")
    assert "[1] the value stored for agent other" in options and "[Enter]" not in options[-200:]
    user.type("7")  # not an option: asked again
    await user.expect("Please choose")
    user.type("1")
    await user.expect("Value for slack")
    user.type("")  # skip
    scopes = await user.expect("For how long?")
    assert "[t]" not in scopes.rsplit("For how long?", 1)[-1]
    user.type("a")
    answer = await asyncio.wait_for(asking, 5)
    assert answer == PromptAnswer.grant(
        GrantScope.ALWAYS, {"github": UseOffered("sec_theirs"), "slack": SkipItem()}
    )


@pytest.mark.asyncio
async def test_no_is_the_default(user: PtyUser) -> None:
    asking = asyncio.create_task(TerminalPrompter(tty_path=user.path).ask(request(GITHUB_SHARED)))
    await user.expect("Allow?")
    user.type("")
    answer = await asyncio.wait_for(asking, 5)
    assert not answer.allow and answer.reason is None


@pytest.mark.asyncio
async def test_end_of_file_declines(user: PtyUser) -> None:
    asking = asyncio.create_task(TerminalPrompter(tty_path=user.path).ask(request(GITHUB_SHARED)))
    await user.expect("Allow?")
    os.write(user.master, b"\x04")  # Ctrl-D
    answer = await asyncio.wait_for(asking, 5)
    assert answer == PromptAnswer.deny(TERMINAL_CLOSED)


@pytest.mark.asyncio
async def test_cancel_mid_value_restores_echo(user: PtyUser) -> None:
    asking = asyncio.create_task(TerminalPrompter(tty_path=user.path).ask(request(SLACK_NEW)))
    await user.expect("Allow?")
    user.type("y")
    await user.expect("(hidden")
    assert not user.echo_on()
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert user.echo_on()
    await user.expect("no answer in time")


@pytest.mark.asyncio
async def test_card_text_cannot_drive_the_terminal(user: PtyUser) -> None:
    evil = AgentRecord(
        **{**{f: getattr(AGENT, f) for f in AGENT.__slots__}, "name": "\x1b]0;pwned\x07Evil\x1b[2J"}
    )
    item = PromptItem("github", "Tok\x1b[31men", "desc\rover", "why", SHARED)
    asking = asyncio.create_task(
        TerminalPrompter(tty_path=user.path).ask(
            request(item, agent=evil, card_changed=True, first_contact=True)
        )
    )
    shown = await user.expect("Allow?")
    assert "\x1b" not in shown and "\x07" not in shown
    assert "?]0;pwned?Evil?[2J" in shown and "new agent" in shown and "card changed" in shown
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking


def test_clean_caps_length() -> None:
    assert clean("a" * 500).endswith("…") and len(clean("a" * 500)) == 300
    assert clean("tab\there") == "tab?here"


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/nonexistent/tty", os.devnull])
async def test_without_a_terminal_every_prompt_is_declined(path: str) -> None:
    answer = await TerminalPrompter(tty_path=path).ask(request(GITHUB_SHARED))
    assert answer == PromptAnswer.deny(NO_TERMINAL)


@pytest.mark.asyncio
async def test_deny_unknown_never_asks(user: PtyUser) -> None:
    answer = await TerminalPrompter(tty_path=user.path, deny_unknown=True).ask(request(GITHUB_SHARED))
    assert answer == PromptAnswer.deny(DENY_UNKNOWN)
    await asyncio.sleep(0.02)
    with pytest.raises(BlockingIOError):
        os.read(user.master, 1024)  # nothing was written to the terminal


@pytest.mark.asyncio
async def test_broker_audits_the_missing_terminal(tmp_path: Path) -> None:
    data = make_card("Demo", demands={"github": {"name": "GitHub token"}})

    def fetch(url: str) -> FetchedCard:
        base = "http://127.0.0.1:9001"
        return FetchedCard(
            base_url=base, card_url=base + "/.well-known/agent-card.json", data=data, parsed=parse_card(data)
        )

    services = open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "home")},
        vault=open_vault("memory"),
        clock=FakeClock(),
        fetch=fetch,
    )
    try:
        agent = services.agents.add("http://127.0.0.1:9001", slug="demo")
        services.secrets.set("github", SecretValue("ghp_shared"))
        broker = Broker.from_services(
            services, TerminalPrompter(tty_path="/nonexistent/tty"), config=BrokerConfig(prompt_timeout=5)
        )
        result = await broker.fulfil(
            agent,
            [SecretDemand("github", "GitHub token")],
            phase="preflight",
            task_id=None,
            context_id=None,
            run_id="run-1",
        )
        assert result.values == {} and result.declined == {"github"}
        event = services.audit.events()[-1]
        assert (event.decision, event.key, event.detail) == (AuditDecision.DENIED, "github", NO_TERMINAL)
    finally:
        services.close()


@pytest.mark.asyncio
async def test_a_model_demand_is_shown_and_a_yes_gives_the_best_match(user: PtyUser) -> None:
    """Issue 14: a prompt for a model alone (no secret items) says what the agent gets."""
    from keybroker.core.broker.prompts import ModelItem, ModelOption, ModelPick

    option = ModelOption("openai", "gpt-4o", "openai/gpt-4o", False, "openai/gpt-4o")
    model = ModelItem(
        "llm:default", "llm", "default", "Writes summaries", ("openai/gpt-4o",), (option,), "best match"
    )
    req = request(models=(model,), scopes=(GrantScope.ONCE, GrantScope.ALWAYS), default_scope=GrantScope.ONCE)
    asking = asyncio.create_task(TerminalPrompter(tty_path=user.path).ask(req))
    shown = await user.expect("Allow? [y/N]")
    assert "a llm model (default): Writes summaries" in shown
    assert "gets: openai/gpt-4o, through the gateway" in shown
    user.type("y")
    await user.expect("For how long?")
    user.type("a")
    answer = await asyncio.wait_for(asking, 5)
    assert answer.allow and answer.scope == GrantScope.ALWAYS
    assert answer.model_for(model) == ModelPick("openai", "gpt-4o")
