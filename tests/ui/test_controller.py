# SPDX-License-Identifier: Apache-2.0
"""The app object over a real runtime (memory vault, free port): start, lock, pause, failures, quit."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from keybroker.core.models import AuditDecision, SecretDemand, SecretValue
from keybroker.system.instance import BridgeState, bridge_port, read_instance
from keybroker.system.paths import Paths
from keybroker.system.settings import Settings, save
from keybroker.ui.app_state import AppState
from keybroker.ui.controller import AppController
from keybroker.ui.events import AppEvents
from keybroker.ui.qt_prompter import QtPrompter
from keybroker.ui.settings_host import NO_TRAY_TEXT, SettingsHost
from keybroker.wiring.runtime import Runtime, RuntimeOptions
from tests.conftest import RunCli
from tests.ui.conftest import AsyncRunner
from tests.ui.support import agent, until


class RecordingNotifier:
    def __init__(self) -> None:
        self.notices: list[tuple[str, str]] = []

    def notify(self, title: str, body: str) -> None:
        self.notices.append((title, body))


class FakeSettingsWindow(QWidget):
    """Stands in for the settings window: a layout for banners, `show_tab` recorded."""

    def __init__(self, runtime: object, events: AppEvents) -> None:
        super().__init__()
        self.runtime = runtime
        self.tabs: list[str] = []
        QVBoxLayout(self).addWidget(QLabel("tabs"))

    def show_tab(self, name: str) -> None:
        self.tabs.append(name)

    def banner_texts(self) -> list[str]:
        return [lab.text() for lab in self.findChildren(QLabel) if lab.objectName() == "appBanner"]


class Harness:
    def __init__(self, environ: dict[str, str], *, no_tray: bool = False) -> None:
        self.events = AppEvents()
        self.states: list[str] = []
        self.events.state_changed.connect(self.states.append)
        self.topics: list[str] = []
        self.events.changed.connect(self.topics.append)
        self.notifier = RecordingNotifier()
        self.prompter = QtPrompter(notifier=self.notifier)
        self.runtime = Runtime(RuntimeOptions(port=0, environ=environ), self.prompter, self.notifier)
        self.windows: list[FakeSettingsWindow] = []

        def factory(runtime: object, events: AppEvents) -> QWidget:
            window = FakeSettingsWindow(runtime, events)
            self.windows.append(window)
            return window

        self.settings = SettingsHost(self.runtime, self.events, factory=factory, no_tray=no_tray)
        self.controller = AppController(
            self.runtime, self.events, self.prompter, self.notifier, settings=self.settings
        )

    @property
    def paths(self) -> Paths:
        return Paths.from_env(self.runtime.options.environ)


@pytest.fixture
def harness(aio: AsyncRunner) -> Iterator[Harness]:
    h = Harness(dict(os.environ))
    yield h
    aio.run(h.controller.shutdown())
    for window in h.windows:
        window.deleteLater()


async def answers(url: str) -> bool:
    """Whether the bridge answers on `url` (asked from the loop that serves it)."""
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
            response = await client.get(url + "/api/v1/status")
    except httpx.TransportError:
        return False
    return response.status_code in (200, 401)


def test_start_serves_and_shutdown_cleans_up(aio: AsyncRunner, harness: Harness) -> None:
    assert aio.run(harness.controller.start()) is AppState.READY
    assert harness.states == ["ready"] or harness.states == ["starting", "ready"]
    assert {"agents", "secrets", "grants", "audit", "settings"} <= set(harness.topics)  # windows re-read
    url = harness.runtime.url
    assert url is not None and aio.run(answers(url))
    assert harness.paths.instance_file.exists()
    status = harness.controller.status()
    assert status.url == url and status.session_only and status.problem is None
    aio.run(harness.controller.shutdown())
    assert not harness.paths.instance_file.exists()
    assert harness.runtime.services is None and not aio.run(answers(url))


def test_lock_now_locks_and_a_lock_from_elsewhere_shows_too(aio: AsyncRunner, harness: Harness) -> None:
    aio.run(harness.controller.start())
    harness.controller.lock()
    assert harness.controller.state is AppState.LOCKED
    services = harness.runtime.services
    assert services is not None
    assert any(e.decision is AuditDecision.LOCKED for e in services.audit.events())
    # Back to ready, then a lock made by another path (CLI through the API, settings window).
    harness.controller._set_state(AppState.READY)
    services.grants.lock(caller="cli")

    async def wait() -> None:
        await until(lambda: harness.controller.state is AppState.LOCKED, what="the audited lock")

    aio.run(wait())
    assert "grants" in harness.topics and "audit" in harness.topics


def test_unlock_returns_to_ready_and_the_next_demand_asks_again(aio: AsyncRunner, harness: Harness) -> None:
    aio.run(harness.controller.start())
    harness.controller.lock()
    assert harness.controller.state is AppState.LOCKED
    services = harness.runtime.services
    assert services is not None
    before = len(services.audit.events())
    harness.controller.unlock()
    assert harness.controller.state is AppState.READY
    assert harness.controller.status().state is AppState.READY
    assert len(services.audit.events()) == before  # nothing granted or ended: nothing to audit
    harness.controller.unlock()  # not locked: nothing happens
    assert harness.controller.state is AppState.READY


def test_pause_and_resume(aio: AsyncRunner, harness: Harness) -> None:
    aio.run(harness.controller.start())
    url = harness.runtime.url
    assert url is not None

    async def toggle() -> None:
        harness.controller.set_paused(True)
        await until(lambda: harness.controller.state is AppState.PAUSED, what="paused")
        paused = read_instance(harness.paths)
        assert paused is not None and paused.bridge is BridgeState.PAUSED and harness.runtime.url is None
        assert not await answers(url)
        assert harness.runtime.services is not None  # the core stays open for the settings window
        harness.controller.set_paused(False)
        await until(lambda: harness.controller.state is AppState.READY, what="resumed")

    aio.run(toggle())
    resumed = read_instance(harness.paths)
    assert resumed is not None and resumed.listening
    new_url = harness.runtime.url
    assert new_url is not None and aio.run(answers(new_url))


def test_paused_it_says_running_bridge_paused_everywhere(
    aio: AsyncRunner, harness: Harness, run_cli: RunCli
) -> None:
    """After Tray → Pause bridge, the CLI said "not running" and `send` "start the app"."""
    aio.run(harness.controller.start())

    async def pause() -> None:
        harness.controller.set_paused(True)
        await until(lambda: harness.controller.state is AppState.PAUSED, what="paused")

    aio.run(pause())
    status = run_cli("status")
    assert status.returncode == 0
    assert status.stdout.startswith(f"running, bridge paused: pid {os.getpid()}"), status.stdout
    assert "Resume bridge" in status.stdout
    as_json = json.loads(run_cli("status", "--json").stdout)
    assert (as_json["running"], as_json["bridge"], as_json["pid"]) == (True, "paused", os.getpid())
    send = run_cli("send", "demo", "hello")
    assert send.returncode == 6
    assert "the bridge is paused" in send.stderr and "Resume bridge" in send.stderr
    assert "not running" not in send.stderr and "start the app" not in send.stderr
    serve = run_cli("serve", "--headless", "--port", "0")
    assert serve.returncode == 2 and "bridge paused" in serve.stderr
    doctor = run_cli("doctor")
    assert "instance:  running, bridge paused" in doctor.stdout


def test_port_in_use_stops_the_bridge_and_says_so(aio: AsyncRunner, harness: Harness) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        harness.runtime.options.port = port
        assert aio.run(harness.controller.start()) is AppState.STOPPED
        problem = harness.controller.problem or ""
        assert str(port) in problem and "Fix:" in problem
        assert any("bridge stopped" in t for t, _ in harness.notifier.notices)
        assert harness.runtime.services is not None
        stopped = read_instance(harness.paths)  # the app runs: `status` must not say otherwise
        assert stopped is not None and stopped.bridge is BridgeState.STOPPED and stopped.port == port
    # The port is free again: "Start bridge" works.

    async def resume() -> None:
        harness.controller.set_paused(False)
        await until(lambda: harness.controller.state is AppState.READY, what="started")

    aio.run(resume())
    assert harness.runtime.port == port and harness.controller.problem is None


def test_vault_unavailable_then_the_explicit_session_only_vault(
    aio: AsyncRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    environ = dict(os.environ, KEYBROKER_VAULT="system")
    h = Harness(environ)
    try:
        assert aio.run(h.controller.start()) is AppState.VAULT_UNAVAILABLE
        assert "Fix:" in (h.controller.problem or "") and h.runtime.services is None
        assert any("vault unavailable" in t for t, _ in h.notifier.notices)
        window = h.settings.show()
        assert isinstance(window, FakeSettingsWindow)
        assert any(t.startswith("Vault unavailable:") for t in window.banner_texts())

        async def switch() -> None:
            h.controller.use_memory_vault()
            await until(lambda: h.controller.state is AppState.READY, what="ready on the memory vault")

        aio.run(switch())
        assert h.controller.status().session_only
        assert h.runtime.options.environ["KEYBROKER_VAULT"] == "memory"
        QApplication.processEvents()
        assert not any(t.startswith("Vault unavailable:") for t in window.banner_texts())
    finally:
        aio.run(h.controller.shutdown())


def test_agents_in_the_menu_and_copying_a_bridged_url(aio: AsyncRunner, harness: Harness) -> None:
    aio.run(harness.controller.start())
    services = harness.runtime.services
    assert services is not None
    record = replace(agent("research"), demands=(SecretDemand("github", "GitHub token"),))
    services.catalog.upsert_agent(record)
    services.secrets.set("github", SecretValue("ghp_CANARY_x"), owner="research")
    (view,) = harness.controller.agent_views()
    assert view.slug == "research" and view.bridged_url == f"{harness.runtime.url}/agents/research/"
    assert [d.key for d in view.demands] == ["github"] and "satisfied" in view.demands[0].status
    harness.controller.copy_bridged_url("research")
    assert QGuiApplication.clipboard().text() == view.bridged_url
    QGuiApplication.clipboard().clear()


def test_settings_window_opens_on_a_tab_and_says_when_there_is_no_tray(aio: AsyncRunner) -> None:
    h = Harness(dict(os.environ), no_tray=True)
    try:
        h.controller.show_settings("agents")
        h.controller.show_settings()
        (window,) = h.windows  # one window, brought forward again
        assert window.isVisible() and window.tabs == ["agents"]
        assert window.banner_texts() == [NO_TRAY_TEXT]
    finally:
        aio.run(h.controller.shutdown())
    assert not h.windows[0].isVisible()


def test_quit_is_idempotent(harness: Harness) -> None:
    harness.controller.quit()
    harness.controller.quit()
    assert harness.controller.quit_requested.is_set()


def test_bridge_port_prefers_the_environment_then_the_settings(tmp_path: Path) -> None:
    paths = Paths.from_env({"KEYBROKER_HOME": str(tmp_path)})
    assert bridge_port({}, paths) == 7411
    save(Settings(bridge_port=8123), paths.settings_file)
    assert bridge_port({}, paths) == 8123
    assert bridge_port({"KEYBROKER_PORT": "0"}, paths) == 0
    assert bridge_port({"KEYBROKER_PORT": "9100"}, paths) == 9100
    assert bridge_port({"KEYBROKER_PORT": "nope"}, paths) == 8123


def test_an_agent_with_its_own_port_shows_and_copies_that_port_as_its_bridged_url(
    aio: AsyncRunner, harness: Harness
) -> None:
    aio.run(harness.controller.start())
    services = harness.runtime.services
    assert services is not None
    services.catalog.upsert_agent(replace(agent("research"), bridge_port=47999))
    (view,) = harness.controller.agent_views()
    assert view.bridged_url == "http://127.0.0.1:47999/"  # issue 18: the agent is that port's root
    harness.controller.copy_bridged_url("research")
    assert QGuiApplication.clipboard().text() == "http://127.0.0.1:47999/"
    QGuiApplication.clipboard().clear()
