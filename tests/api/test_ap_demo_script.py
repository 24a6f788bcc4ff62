# SPDX-License-Identifier: Apache-2.0
"""scripts/ap-demo.sh: a script with the token lists, adds and deletes an agent's secrets through the
AP endpoints of a running `keybroker serve`, and sees each change in `keybroker secrets list`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import source_root, subprocess_env

SCRIPT = source_root().parent / "scripts" / "ap-demo.sh"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the demo script drives the API with curl")
def test_the_ap_demo_script_runs_end_to_end() -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        env=subprocess_env({"PYTHON": sys.executable}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.rstrip().endswith("ap-demo: OK")
    assert "agent_added listed created updated listed deleted" in done.stderr
    for value in ("sk-demo-first", "sk-demo-second"):
        assert value not in done.stdout + done.stderr
