"""The package imports cleanly, and its core stays free of Qt (DESIGN §2)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keybroker
from tests.conftest import subprocess_env

# Import keybroker.core and every module below it in a fresh interpreter, then report what got loaded.
IMPORT_ALL_OF_CORE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys

    import keybroker.core as core

    def fail(name):
        raise ImportError(f"cannot import {name}")

    names = [core.__name__]
    for info in pkgutil.walk_packages(core.__path__, core.__name__ + ".", onerror=fail):
        importlib.import_module(info.name)
        names.append(info.name)
    banned = sorted(m for m in sys.modules if m.split(".")[0] in {"PySide6", "shiboken6", "qasync"})
    print(json.dumps({"imported": names, "banned": banned}))
    """
)


def test_version_is_a_nonempty_string() -> None:
    assert isinstance(keybroker.__version__, str)
    assert keybroker.__version__.strip()


def test_core_and_all_its_modules_load_no_qt() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_OF_CORE],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    # The walk really happened: the modules every other one builds on were imported.
    assert {"keybroker.core.errors", "keybroker.core.models"} <= set(report["imported"])
    assert report["banned"] == []
