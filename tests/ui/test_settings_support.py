# SPDX-License-Identifier: Apache-2.0
"""Shared pieces for the settings window tests (this module holds no tests).

A real core (catalog, audit, secret store, registry, grant book) over a memory vault under `tmp_path`,
a fake card fetcher whose cards and failures the test controls, a runtime stub with the shape the
window needs, and an `Asker` that answers confirmations from a script and records what it was asked.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from keybroker.core.a2a.card import parse_card
from keybroker.core.a2a.card_fetch import FetchedCard
from keybroker.core.admin import LocalAdmin
from keybroker.core.auth.sign_in_admin import LocalSignInAdmin
from keybroker.core.auth.signins import SignIns
from keybroker.core.broker.sign_in_prompts import SignInPrompter
from keybroker.core.models import AuditEvent, Grant, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.system import api_token
from keybroker.system.autostart import Autostart
from keybroker.ui.events import AppEvents
from keybroker.ui.settings.asker import Answer, Confirmation
from keybroker.ui.settings_window import SettingsWindow
from keybroker.wiring.services import Services, open_services
from tests.fakes import FakeClock

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"


def demo_card(
    name: str = "Release Notes Writer",
    demands: dict[str, dict[str, str]] | None = None,
    schemes: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A 0.3-shaped card as an agentstack agent serves it."""
    card: dict[str, Any] = {
        "name": name,
        "description": "Drafts release notes from merged pull requests.",
        "version": "1.0.0",
        "url": "http://127.0.0.1:9001/",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "capabilities": {
            "streaming": True,
            "extensions": [
                {
                    "uri": SECRETS_URI,
                    "required": False,
                    "params": {
                        "secret_demands": demands
                        if demands is not None
                        else {
                            "GITHUB_TOKEN": {"name": "GitHub token", "description": "read pull requests"},
                            "SLACK_WEBHOOK_URL": {"name": "Slack webhook", "description": "where to post"},
                        }
                    },
                }
            ],
        },
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [],
    }
    if schemes:
        card["securitySchemes"] = schemes
        card["security"] = [{k: []} for k in schemes]
    return card


class FakeCards:
    """URL -> card (or an exception to raise); `gate` holds every fetch until set; records threads."""

    def __init__(self) -> None:
        self.cards: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, Exception] = {}
        self.gate: threading.Event | None = None
        self.threads: list[str] = []

    def __call__(self, url: str) -> FetchedCard:
        self.threads.append(threading.current_thread().name)
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the fetch gate"
        base = url.split("/.well-known/")[0].rstrip("/")
        if base in self.errors:
            raise self.errors[base]
        data = self.cards[base]
        return FetchedCard(
            base_url=base, card_url=base + "/.well-known/agent-card.json", data=data, parsed=parse_card(data)
        )


class RecordingBroker:
    """The broker's `forget` and `lock`, recorded; `lock` really ends grants."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self.forgotten: list[str] = []
        self.locks = 0

    def forget(self, secret_id: str) -> None:
        self.forgotten.append(secret_id)

    def lock(self, *, caller: str | None = None) -> list[Grant]:
        self.locks += 1
        return self._services.grants.lock(caller=caller)


class StubRuntime:
    """What `SettingsWindow` needs of `Runtime` (ui/settings/context.py's `AppFacade`)."""

    def __init__(self, services: Services, port: int = 7411) -> None:
        self.services: Services | None = services
        self.broker = RecordingBroker(services)
        self.options = SimpleNamespace(port=port, environ={})
        self.port = port
        self.paths = services.paths

    def admin(self, caller: str | None) -> LocalAdmin | None:
        if self.services is None:
            return None
        return LocalAdmin(self.services, caller=caller, port=lambda: self.port, broker=self.broker)

    def sign_in_admin(self, caller: str | None, prompter: SignInPrompter | None) -> LocalSignInAdmin | None:
        """As `Runtime.sign_in_admin`: a `SignIns` of the window's own over the same services."""
        if self.services is None:
            return None
        svc = self.services
        sign_ins = SignIns(svc.catalog, svc.vault, svc.audit, prompter=prompter)
        return LocalSignInAdmin(sign_ins, svc.catalog, caller)

    def subscribe(self, listener: Callable[[AuditEvent], None]) -> None:
        assert self.services is not None
        self.services.audit.subscribe(listener)

    def api_token(self) -> SecretValue:
        assert self.services is not None
        return api_token.load_or_create(self.services.vault, self.services.paths.token_file)

    def status(self) -> dict[str, Any]:
        return {
            "running": True,
            "port": self.port,
            "url": f"http://127.0.0.1:{self.port}",
            "vault": self.services.vault.describe() if self.services else None,
            "session_only_vault": bool(self.services and self.services.vault.is_memory),
        }


class ScriptedAsker:
    """Answers confirmations in order (default: decline), records them; `save_to` answers save dialogs."""

    def __init__(self, *answers: Answer) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.asked: list[Confirmation] = []
        self.save_to: tuple[Path, str] | None = None
        self.save_requests: list[tuple[str, str, Sequence[str]]] = []

    def confirm(self, parent: QWidget, question: Confirmation, on_answer: Callable[[Answer], None]) -> None:
        self.asked.append(question)
        on_answer(self.answers.popleft() if self.answers else Answer(False))

    def save_path(
        self,
        parent: QWidget,
        title: str,
        suggested: str,
        filters: Sequence[str],
        on_chosen: Callable[[Path, str], None],
    ) -> None:
        self.save_requests.append((title, suggested, filters))
        if self.save_to is not None:
            on_chosen(*self.save_to)


class ChangeLog:
    """Every `AppEvents.changed` topic, in order."""

    def __init__(self, events: AppEvents) -> None:
        self.topics: list[str] = []
        events.changed.connect(self.topics.append)


def wait_jobs(qtbot: QtBot, window: SettingsWindow, timeout: int = 5000) -> None:
    """Until every background job ran and its callback ran on the UI thread."""
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=timeout)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cards() -> FakeCards:
    return FakeCards()


@pytest.fixture
def services(tmp_path: Path, clock: FakeClock, cards: FakeCards) -> Iterator[Services]:
    svc = open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "home")},
        vault=open_vault("memory"),
        clock=clock,
        fetch=cards,
    )
    yield svc
    svc.close()


@pytest.fixture
def runtime(services: Services) -> StubRuntime:
    return StubRuntime(services)


@pytest.fixture
def asker() -> ScriptedAsker:
    return ScriptedAsker()


@pytest.fixture
def events() -> AppEvents:
    return AppEvents()


@pytest.fixture
def autostart(tmp_path: Path) -> Autostart:
    return Autostart(
        platform="linux",
        environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg-config")},
        home=tmp_path / "user",
        command=("/usr/bin/keybroker",),
    )


@pytest.fixture
def window(
    qtbot: QtBot, runtime: StubRuntime, events: AppEvents, asker: ScriptedAsker, autostart: Autostart
) -> Iterator[SettingsWindow]:
    win = SettingsWindow(runtime, events, asker=asker, autostart=autostart)
    qtbot.addWidget(win)
    yield win
    win.jobs.close(wait=True)
