"""The `Prompter` of `keybroker serve --headless`: asks on the controlling terminal.

It opens the terminal itself (`/dev/tty`, not stdin/stdout, which may be pipes or logs) and talks to it
through the event loop's reader, so waiting for the user never blocks the loop and the broker's deadline
can cancel a question mid-line. Values are read with echo off. With no terminal at all (a service, CI,
`setsid`), every prompt is declined with the reason "no terminal to ask on", which the broker audits.
With `deny_unknown`, nothing is ever asked: a demand without a grant is declined.

Everything shown comes from agent cards and agents, so control characters are replaced before they reach
the terminal (an agent must not be able to drive it with escape sequences).
"""

from __future__ import annotations

import asyncio
import sys

from keybroker.cli.terminal import Terminal, TerminalClosed
from keybroker.core.broker.prompts import (
    DEFAULT_MINUTES,
    ItemChoice,
    NewValue,
    PromptAnswer,
    PromptItem,
    PromptRequest,
    SkipItem,
    UseOffered,
    UseStored,
)
from keybroker.core.models import GrantScope, SecretValue
from keybroker.core.safe_text import one_line

NO_TERMINAL = "no terminal to ask on"
DENY_UNKNOWN = "--deny-unknown: only values with a grant are released"
TERMINAL_CLOSED = "the terminal closed before an answer"
DEFAULT_TTY = "/dev/tty"

_SCOPE_LETTERS: dict[GrantScope, tuple[str, str]] = {
    GrantScope.TASK: ("t", "this task"),
    GrantScope.CONVERSATION: ("c", "this conversation"),
    GrantScope.ONCE: ("o", "once"),
    GrantScope.MINUTES: ("m", "N minutes"),
    GrantScope.UNTIL_LOCK: ("l", "until lock"),
    GrantScope.ALWAYS: ("a", "always"),
}
_MAX_SHOWN = 300
_ATTEMPTS = 3


def clean(text: object, limit: int = _MAX_SHOWN) -> str:
    """`text` safe for a terminal: control, bidi and zero-width characters replaced, length capped."""
    return one_line(text, limit)


class TerminalPrompter:
    """Asks on the terminal, one prompt at a time; declines when there is no terminal."""

    def __init__(self, *, tty_path: str = DEFAULT_TTY, deny_unknown: bool = False) -> None:
        self.tty_path = tty_path
        self.deny_unknown = deny_unknown
        self._turn: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"TerminalPrompter(tty_path={self.tty_path!r}, deny_unknown={self.deny_unknown})"

    async def ask(self, request: PromptRequest) -> PromptAnswer:
        """Show `request` on the terminal and read the answer."""
        if self.deny_unknown:
            return PromptAnswer.deny(DENY_UNKNOWN)
        if sys.platform == "win32":  # no /dev/tty and no loop reader for consoles there
            return PromptAnswer.deny(NO_TERMINAL)
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            try:
                terminal = Terminal.open(self.tty_path)
            except OSError:
                return PromptAnswer.deny(NO_TERMINAL)
            try:
                return await _Conversation(terminal, request).run()
            except TerminalClosed:
                return PromptAnswer.deny(TERMINAL_CLOSED)
            except asyncio.CancelledError:
                terminal.write_now("\n[keybroker] no answer in time: the request was declined.\n")
                raise
            finally:
                terminal.close()


class _Conversation:
    """One prompt's questions and answers."""

    def __init__(self, terminal: Terminal, request: PromptRequest) -> None:
        self.t = terminal
        self.r = request

    async def run(self) -> PromptAnswer:
        await self.t.write(describe(self.r))
        if not await self._yes_no("Allow? [y/N] "):
            await self.t.write("Declined.\n")
            return PromptAnswer.deny()
        choices = {item.key: await self._choose(item) for item in self.r.items}
        gives_model = any(m.options for m in self.r.models)  # issue 14: a yes gives each the best match
        if all(isinstance(c, SkipItem) for c in choices.values()) and not gives_model:
            await self.t.write("Nothing chosen: declined.\n")
            return PromptAnswer.deny()
        scope, minutes = await self._scope()
        await self.t.write(f"Allowed ({_scope_text(scope, minutes)}).\n")
        return PromptAnswer.grant(scope, choices, minutes=minutes)

    async def _yes_no(self, question: str) -> bool:
        await self.t.write(question)
        return (await self.t.readline()).strip().lower() in ("y", "yes")

    async def _choose(self, item: PromptItem) -> ItemChoice:
        if item.stored is None and not item.offers:
            return await self._new_value(item, optional=True)
        options = []
        if item.stored is not None:
            whose = "the shared value" if item.stored.owner is None else "its own stored value"
            options.append(f"[Enter] {whose}")
        for n, offer in enumerate(item.offers, 1):
            options.append(f"[{n}] the value stored for agent {clean(offer.owner)}")
        options += ["[n] type a new value", "[s] skip"]
        for _ in range(_ATTEMPTS):
            await self.t.write(f"{clean(item.key)}: " + ", ".join(options) + ": ")
            answer = (await self.t.readline()).strip().lower()
            if answer == "" and item.stored is not None:
                return UseStored()
            if answer == "n":
                return await self._new_value(item, optional=False)
            if answer == "s":
                return SkipItem()
            if answer.isdigit() and 1 <= int(answer) <= len(item.offers):
                return UseOffered(item.offers[int(answer) - 1].secret_id)
            await self.t.write("Please choose one of the options.\n")
        return SkipItem()

    async def _new_value(self, item: PromptItem, *, optional: bool) -> ItemChoice:
        hint = ", empty to skip" if optional else ""
        text = await self.t.readline(hidden=True, prompt=f"Value for {clean(item.key)} (hidden{hint}): ")
        return NewValue(SecretValue(text)) if text else SkipItem()

    async def _scope(self) -> tuple[GrantScope, float | None]:
        offered = [s for s in _SCOPE_LETTERS if s in self.r.scopes]
        default = self.r.default_scope if self.r.default_scope in offered else GrantScope.ONCE
        labels = [
            f"[{_SCOPE_LETTERS[s][0]}] {_SCOPE_LETTERS[s][1]}" + (" (default)" if s == default else "")
            for s in offered
        ]
        by_letter = {_SCOPE_LETTERS[s][0]: s for s in offered}
        scope = default
        for _ in range(_ATTEMPTS):
            await self.t.write("For how long? " + ", ".join(labels) + ": ")
            answer = (await self.t.readline()).strip().lower()
            if answer == "" or answer in by_letter:
                scope = by_letter.get(answer, default)
                break
            await self.t.write("Please choose one of the letters.\n")
        if scope != GrantScope.MINUTES:
            return scope, None
        await self.t.write(f"Minutes [{DEFAULT_MINUTES:g}]: ")
        text = (await self.t.readline()).strip()
        try:
            minutes = float(text) if text else DEFAULT_MINUTES
        except ValueError:
            minutes = DEFAULT_MINUTES
        return scope, minutes


def describe(request: PromptRequest) -> str:
    """What the terminal shows before asking: who, what, why, for which task, until when."""
    agent = request.agent
    known = "new agent" if request.first_contact else "known agent"
    lines = [
        "",
        "=== Keybroker: an agent asks for secrets ===",
        f"Agent:   {clean(agent.name)} ({clean(agent.slug)}) at {clean(agent.url)} - {known}",
    ]
    if request.card_changed:
        lines.append("         ! its agent card changed since the last grant")
    if request.caller:
        lines.append(f"Caller:  {clean(request.caller)}")
    when = "before the message is forwarded" if request.phase == "preflight" else "during its task"
    lines.append(f"When:    {when}")
    if request.task_id or request.context_id:
        lines.append(
            f"Task:    {clean(request.task_id or '-')}   conversation: {clean(request.context_id or '-')}"
        )
    lines.append("Wants:")
    for n, item in enumerate(request.items, 1):
        title = f"  {n}. {clean(item.key)} - {clean(item.name)}"
        lines.append(title + (f": {clean(item.description)}" if item.description else ""))
        lines.append(f"     why: {clean(item.reason)}")
        if item.stored is not None:
            stored = (
                "a shared value"
                if item.stored.owner is None
                else f"its own value ({clean(item.stored.name)})"
            )
            lines.append(f"     stored: {stored}")
        for offer in item.offers:
            owner, slug = clean(offer.owner), clean(agent.slug)
            lines.append(f"     also stored for agent {owner}: giving it to {slug} needs your yes")
    for n, model in enumerate(request.models, len(request.items) + 1):  # issue 14: a yes gives the best match
        title = f"  {n}. a {clean(model.kind)} model ({clean(model.name)})"
        lines.append(title + (f": {clean(model.description)}" if model.description else ""))
        best = f"{clean(model.options[0].label)}, through the gateway" if model.options else "none configured"
        lines.append(f"     gets: {best}")
        lines.append(f"     why: {clean(model.reason)}")
    lines.append(f"Answer within {request.timeout:g} s, or it is declined.")
    return "\n".join(lines) + "\n"


def _scope_text(scope: GrantScope, minutes: float | None) -> str:
    if scope == GrantScope.MINUTES:
        return f"for {minutes:g} minutes"
    return _SCOPE_LETTERS[scope][1]
