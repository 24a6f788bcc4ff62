# SPDX-License-Identifier: Apache-2.0
"""`keybroker serve`'s event loop (issue 16): uvloop where installed, asyncio's by choice, errors clear."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

import pytest

from keybroker.system.event_loop import LOOP_ENV, LoopChoiceError, choose_loop, run
from tests.conftest import RunCli

HAS_UVLOOP = sys.platform != "win32" and importlib.util.find_spec("uvloop") is not None


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_runs_by_default_where_it_is_installed() -> None:
    module = run(_loop_module(), {})
    if HAS_UVLOOP:
        assert module.startswith("uvloop")
        assert choose_loop({}) == "uvloop"
    else:
        assert module.startswith("asyncio")
        assert choose_loop({}) == "asyncio"


def test_asyncio_s_own_loop_can_be_chosen() -> None:
    assert run(_loop_module(), {LOOP_ENV: "asyncio"}).startswith("asyncio")
    assert choose_loop({LOOP_ENV: " AsyncIO "}) == "asyncio"


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed here")
def test_uvloop_can_be_insisted_on() -> None:
    assert run(_loop_module(), {LOOP_ENV: "uvloop"}).startswith("uvloop")


def test_an_unknown_loop_is_a_usage_error_and_the_coroutine_is_closed() -> None:
    coroutine = _loop_module()
    with pytest.raises(LoopChoiceError, match="asyncio, uvloop") as raised:
        run(coroutine, {LOOP_ENV: "trio"})
    assert raised.value.exit_code == 2
    assert coroutine.cr_frame is None  # closed: no "never awaited" warning later


def test_serve_with_an_unknown_loop_exits_2_saying_so(run_cli: RunCli) -> None:
    result = run_cli("serve", "--headless", "--port", "0", env={LOOP_ENV: "trio"})
    assert result.returncode == 2, result.stderr
    assert "KEYBROKER_LOOP" in result.stderr and "listening" not in result.stderr
