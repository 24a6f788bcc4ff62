# SPDX-License-Identifier: Apache-2.0
"""QtPrompter: one dialog at a time, a queue behind it, answers and withdrawals, and the broker's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from keybroker.core.broker.broker import Broker, BrokerConfig
from keybroker.core.broker.prompts import NewValue, PromptAnswer, UseStored
from keybroker.core.models import AuditDecision, SecretDemand, SecretValue
from keybroker.system.paths import Paths
from keybroker.ui.prompt_dialog import PromptDialog
from keybroker.ui.qt_prompter import QtPrompter
from keybroker.wiring.services import open_services
from tests.ui.conftest import AsyncRunner
from tests.ui.support import item, record, request, until


class RecordingNotifier:
    def __init__(self) -> None:
        self.notices: list[tuple[str, str]] = []

    def notify(self, title: str, body: str) -> None:
        self.notices.append((title, body))


def visible_dialogs() -> list[PromptDialog]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, PromptDialog) and w.isVisible()]


def gone(dialog: PromptDialog) -> bool:
    """Closed and (soon) deleted: the prompter frees a dialog once it is answered or withdrawn."""
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def closing_state(dialog: PromptDialog) -> list[tuple[bool, str]]:
    """Records (withdrawn, text left in the first field) when the dialog finishes."""
    seen: list[tuple[bool, str]] = []
    dialog.finished.connect(lambda _r: seen.append((dialog.withdrawn, dialog.items[0].input.text())))
    return seen


def pending_is(prompter: QtPrompter, count: int) -> Callable[[], bool]:
    return lambda: len(prompter.pending) == count


def stored_request(key: str = "GITHUB_TOKEN"):  # type: ignore[no-untyped-def]
    return request(item(key, stored=record(key, "research")))


def test_ask_shows_a_dialog_and_returns_the_answer(aio: AsyncRunner) -> None:
    prompter = QtPrompter()
    shown: list[PromptDialog] = []
    prompter.dialog_shown.connect(shown.append)
    counts: list[int] = []
    prompter.queue_changed.connect(counts.append)

    async def scenario() -> PromptAnswer:
        task = asyncio.ensure_future(prompter.ask(request(item("OPENAI_API_KEY"))))
        await until(lambda: prompter.current_dialog is not None, what="the dialog")
        dialog = prompter.current_dialog
        assert dialog is not None and dialog.isVisible() and visible_dialogs() == [dialog]
        closing = closing_state(dialog)
        QTest.keyClicks(dialog.items[0].input, "typed-CANARY")
        QTest.keyClick(dialog.items[0].input, Qt.Key.Key_Return)  # too soon: Allow is still inert
        await asyncio.sleep(0.05)
        assert not task.done() and dialog.isVisible()
        await until(lambda: dialog.allow_button.isEnabled(), what="Allow to answer")
        QTest.keyClick(dialog.items[0].input, Qt.Key.Key_Return)
        answer = await task
        assert prompter.current_dialog is None and prompter.pending == ()
        assert closing == [(False, "")]  # answered, and the typed value cleared
        await until(lambda: not shiboken6.isValid(dialog), what="the dialog to be freed")
        return answer

    answer = aio.run(scenario())
    assert answer.allow and answer.choices["OPENAI_API_KEY"] == NewValue(SecretValue("typed-CANARY"))
    assert len(shown) == 1
    assert counts[0] == 1 and counts[-1] == 0
    assert visible_dialogs() == []


def test_three_concurrent_asks_show_one_dialog_at_a_time(aio: AsyncRunner) -> None:
    notifier = RecordingNotifier()
    prompter = QtPrompter(notifier=notifier, guard_ms=0)
    requests = [stored_request(f"KEY_{n}") for n in range(3)]

    async def scenario() -> list[PromptAnswer]:
        tasks = [asyncio.ensure_future(prompter.ask(r)) for r in requests]
        await until(lambda: len(prompter.pending) == 3, what="three prompts")
        order = []
        for left in (3, 2, 1):
            dialogs = visible_dialogs()
            assert len(dialogs) == 1, "dialogs must not stack"
            dialog = dialogs[0]
            assert dialog is prompter.current_dialog
            assert prompter.pending[0].prompt_id == dialog.request.prompt_id
            expected = f"1 of {left} waiting" if left > 1 else ""
            assert dialog.queue_label.text() == expected
            order.append(dialog.request.prompt_id)
            if left == 2:
                dialog.deny_button.click()
            else:
                dialog.allow_button.click()
            await until(pending_is(prompter, left - 1), what="the next prompt")
        assert order == [r.prompt_id for r in requests]  # first come, first shown
        return list(await asyncio.gather(*tasks))

    answers = aio.run(scenario())
    assert [a.allow for a in answers] == [True, False, True]
    assert answers[0].choices == {"KEY_0": UseStored()}
    # The two prompts that had to wait were announced.
    assert len(notifier.notices) >= 2 and all("Research Assistant" in t for t, _ in notifier.notices)


def test_cancelling_ask_withdraws_its_dialog_and_shows_the_next(aio: AsyncRunner) -> None:
    prompter = QtPrompter(guard_ms=0)
    first, second = stored_request("FIRST"), stored_request("SECOND")

    async def scenario() -> PromptAnswer:
        t1 = asyncio.ensure_future(prompter.ask(first))
        t2 = asyncio.ensure_future(prompter.ask(second))
        await until(lambda: len(prompter.pending) == 2)
        dialog = prompter.current_dialog
        assert dialog is not None and dialog.request is first
        closing = closing_state(dialog)
        t1.cancel()  # what the broker does at the deadline
        with pytest.raises(asyncio.CancelledError):
            await t1
        assert closing == [(True, "")] and gone(dialog)
        await until(lambda: prompter.current_dialog is not None)
        nxt = prompter.current_dialog
        assert nxt is not None and nxt.request is second and nxt.isVisible()
        assert nxt.queue_label.text() == ""
        nxt.allow_button.click()
        return await t2

    assert aio.run(scenario()).allow
    assert visible_dialogs() == []


def test_a_queued_ask_cancelled_never_shows(aio: AsyncRunner) -> None:
    prompter = QtPrompter()
    shown: list[PromptDialog] = []
    prompter.dialog_shown.connect(shown.append)

    async def scenario() -> None:
        t1 = asyncio.ensure_future(prompter.ask(stored_request("FIRST")))
        t2 = asyncio.ensure_future(prompter.ask(stored_request("SECOND")))
        await until(lambda: len(prompter.pending) == 2)
        t2.cancel()
        await asyncio.gather(t2, return_exceptions=True)
        assert [r.keys for r in prompter.pending] == [("FIRST",)]
        current = prompter.current_dialog
        assert current is not None
        assert current.queue_label.text() == ""  # no longer "1 of 2"
        current.deny_button.click()
        await t1

    aio.run(scenario())
    assert [d.request.keys for d in shown] == [("FIRST",)]


def test_raise_prompt_brings_a_queued_one_forward_and_keeps_what_was_typed(aio: AsyncRunner) -> None:
    prompter = QtPrompter(guard_ms=0)
    first, second = request(item("FIRST")), stored_request("SECOND")

    async def scenario() -> list[PromptAnswer]:
        t1 = asyncio.ensure_future(prompter.ask(first))
        t2 = asyncio.ensure_future(prompter.ask(second))
        await until(lambda: len(prompter.pending) == 2)
        d1 = prompter.current_dialog
        assert d1 is not None
        QTest.keyClicks(d1.items[0].input, "half-typed")
        assert prompter.raise_prompt(second.prompt_id)
        d2 = prompter.current_dialog
        assert d2 is not None and d2.request is second
        assert visible_dialogs() == [d2] and not d1.isVisible()
        assert [r.prompt_id for r in prompter.pending] == [second.prompt_id, first.prompt_id]
        d2.allow_button.click()
        await until(lambda: prompter.current_dialog is d1, what="the first prompt back")
        assert d1.isVisible() and d1.items[0].input.text() == "half-typed"
        d1.allow_button.click()
        return list(await asyncio.gather(t1, t2))

    a1, a2 = aio.run(scenario())
    assert a1.choices["FIRST"] == NewValue(SecretValue("half-typed")) and a2.allow
    assert not prompter.raise_prompt("pr_unknown")


def test_focus_goes_back_to_the_window_that_had_it(aio: AsyncRunner, app: QApplication) -> None:
    prompter = QtPrompter(guard_ms=0)
    window = QWidget()
    window.setWindowTitle("settings")
    window.show()
    window.activateWindow()

    async def scenario() -> None:
        await until(window.isActiveWindow, what="the window to be active")
        task = asyncio.ensure_future(prompter.ask(stored_request()))
        await until(lambda: prompter.current_dialog is not None and prompter.current_dialog.isActiveWindow())
        assert not window.isActiveWindow()
        dialog = prompter.current_dialog
        assert dialog is not None
        dialog.allow_button.click()
        await task
        await until(window.isActiveWindow, what="the focus to come back")

    try:
        aio.run(scenario())
    finally:
        window.close()
        window.deleteLater()


def test_the_dialog_says_how_many_runs_wait_on_it(aio: AsyncRunner, tmp_path: Path) -> None:
    """Through the real broker: runs that join an open prompt are counted on it, and leave it."""
    services = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home"), "KEYBROKER_VAULT": "memory"})
    prompter = QtPrompter(guard_ms=0)
    broker = Broker.from_services(services, prompter)
    agent_record = request().agent
    services.catalog.upsert_agent(agent_record)

    def run(n: int) -> asyncio.Future[object]:
        return asyncio.ensure_future(
            broker.fulfil(
                agent_record,
                [SecretDemand("OPENAI_API_KEY", "OpenAI key")],
                phase="runtime",
                task_id=f"t{n}",
                context_id="c1",
            )
        )

    async def scenario() -> list[object]:
        runs = [run(n) for n in range(3)]
        await until(lambda: prompter.current_dialog is not None, what="the prompt")
        dialog = prompter.current_dialog
        assert dialog is not None
        await until(lambda: dialog.waiting_label.isVisible(), what="the count")
        assert dialog.waiting_label.text() == "Answers 3 waiting requests"
        runs[2].cancel()
        await until(lambda: dialog.waiting_label.text() == "Answers 2 waiting requests", what="one fewer")
        QTest.keyClicks(dialog.items[0].input, "typed-CANARY")
        dialog.allow_button.click()
        return list(await asyncio.gather(*runs[:2]))

    try:
        results = aio.run(scenario())
        assert all(r.values["OPENAI_API_KEY"].reveal() == "typed-CANARY" for r in results)  # type: ignore[attr-defined]
    finally:
        aio.run(broker.aclose())
        services.close()


def test_withdraw_all_declines_every_waiting_prompt(aio: AsyncRunner) -> None:
    prompter = QtPrompter()

    async def scenario() -> list[PromptAnswer]:
        tasks = [asyncio.ensure_future(prompter.ask(stored_request(f"K{n}"))) for n in range(2)]
        await until(lambda: len(prompter.pending) == 2)
        prompter.withdraw_all()
        return list(await asyncio.gather(*tasks))

    answers = aio.run(scenario())
    assert [a.allow for a in answers] == [False, False]
    assert visible_dialogs() == []


def test_broker_deadline_closes_the_dialog_and_declines(aio: AsyncRunner, tmp_path: Path) -> None:
    """Timeout via cancellation, end to end through the real broker."""
    services = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home"), "KEYBROKER_VAULT": "memory"})
    prompter = QtPrompter()
    broker = Broker.from_services(services, prompter, config=BrokerConfig(prompt_timeout=0.4))
    agent_record = request().agent
    services.catalog.upsert_agent(agent_record)

    async def scenario() -> object:
        run = asyncio.ensure_future(
            broker.fulfil(
                agent_record,
                [SecretDemand("OPENAI_API_KEY", "OpenAI key")],
                phase="runtime",
                task_id="t1",
                context_id="c1",
            )
        )
        await until(lambda: prompter.current_dialog is not None)
        dialog = prompter.current_dialog
        assert dialog is not None and dialog.request.keys == ("OPENAI_API_KEY",)
        assert dialog.countdown_label.isVisible()
        closing = closing_state(dialog)
        result = await run  # nobody answers
        assert closing == [(True, "")] and gone(dialog)
        return result

    try:
        result = aio.run(scenario())
        assert result.timed_out and result.declined == {"OPENAI_API_KEY"}  # type: ignore[attr-defined]
        decisions = [e.decision for e in services.audit.events(agent=agent_record.slug)]
        assert AuditDecision.TIMED_OUT in decisions
        assert Paths.from_env({"KEYBROKER_HOME": str(tmp_path / "home")}).catalog_db.exists()
    finally:
        aio.run(broker.aclose())
        services.close()
