"""`keybroker send` while the bridge waits for the user: it says so, and what the agent did without."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.cli.conftest import DemoAgent, ServeTerminal
from tests.conftest import RunCli, subprocess_env

pytestmark = pytest.mark.secret_service

SYSTEM_VAULT = {"KEYBROKER_VAULT": "system"}
TOKEN = "ghp-typed-at-the-prompt-7d1c"


class Sender:
    """`keybroker send` in the background; its stderr read as it comes."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "keybroker", "send", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=subprocess_env(SYSTEM_VAULT),
        )
        self.err = ""

    def expect(self, text: str, timeout: float = 30.0) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        while text not in self.err and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                self.err += chunk.decode(errors="replace")
        assert text in self.err, self.err

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        self.err += err.decode(errors="replace")
        return self.proc.returncode, out.decode(errors="replace"), self.err


@pytest.fixture
def running(kb: RunCli, demo_agent: DemoAgent) -> Iterator[ServeTerminal]:
    """`serve` on a terminal (where it asks), with the demo agent added as `digest`."""
    assert kb("agents", "add", demo_agent.url, "--slug", "digest").returncode == 0
    serve = ServeTerminal(env=SYSTEM_VAULT)
    yield serve
    serve.stop()


def test_send_says_it_waits_for_the_answer_then_warns_what_was_not_given(running: ServeTerminal) -> None:
    sender = Sender("digest", "what needs me today?")
    try:
        running.expect("Allow? [y/N] ")
        sender.expect("waiting for your answer in Keybroker (declines in ")
        assert re.search(r"\(declines in (5:00|4:[0-5]\d)\)…\n", sender.err), sender.err
        assert sender.err.count("waiting for your answer") == 1
        running.type("n\n")
        code, _out, err = sender.finish()
    finally:
        if sender.proc.poll() is None:
            sender.proc.kill()
    assert code == 5, err
    assert "warning: digest ran without GITHUB_TOKEN (GitHub token): declined by the user" in err
    assert err.count("warning:") == 1


def test_an_allowed_prompt_gives_no_warning(running: ServeTerminal) -> None:
    sender = Sender("digest", "what needs me today?")
    try:
        running.expect("Allow? [y/N] ")
        sender.expect("waiting for your answer in Keybroker")
        running.type("y\n")
        running.expect("Value for GITHUB_TOKEN (hidden")
        running.type(TOKEN + "\n")
        running.expect("For how long?")
        running.type("\n")
        code, out, err = sender.finish()
    finally:
        if sender.proc.poll() is None:
            sender.proc.kill()
    assert code == 0, err
    assert "3 open issues" in out and TOKEN not in out + err
    assert "warning" not in err
