# SPDX-License-Identifier: Apache-2.0
"""keybroker(1), written from the CLI's argparse tree by packaging/make_manpage.py, and the Debian
changelog its date and version come from."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from keybroker import __version__
from keybroker.cli.main import build_parser
from keybroker.core import errors
from tests.packaging.support import PACKAGING, load

M = load("make_manpage")


def command_words() -> list[str]:
    action = next(a for a in build_parser()._actions if a.dest == "command")
    return list(action.choices)  # type: ignore[arg-type]


def test_the_changelog_starts_at_this_version() -> None:
    version, date = M.changelog_top((PACKAGING / "debian" / "changelog").read_text())
    assert version == __version__
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date)


def test_every_command_and_sub_command_has_its_section(tmp_path: Path) -> None:
    page = M.manpage("2026-12-06")
    for word in command_words():
        assert f'.SS "keybroker {word}"\n' in page
    for sub in ("secrets set", "secrets show", "agents add", "grants revoke", "agents show"):
        assert f"\\fBkeybroker {sub}\\fR" in page.replace("\\-", "-"), sub
    assert "\\-\\-reveal" in page and "\\-\\-headless" in page  # sub-command options are listed


def test_exit_status_matches_the_error_tree() -> None:
    """The man page lists the exit codes the CLI really uses (core/errors.py, INTERFACES.md)."""
    used = {
        cls.exit_code
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.KeybrokerError)
    }
    listed = {int(code) for code, _ in M.EXIT_STATUS}
    assert used <= listed and 0 in listed
    assert listed == set(range(9))


def test_the_page_renders_without_warnings(tmp_path: Path) -> None:
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    out = tmp_path / "keybroker.1"
    assert M.main([str(out)]) == 0
    result = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert out.read_text().startswith('.TH KEYBROKER 1 "')
    assert f'"keybroker {__version__}"' in out.read_text().splitlines()[0]


def test_roff_escaping() -> None:
    assert M.esc("--json") == "\\-\\-json"
    assert M.esc(".hidden") == "\\&.hidden"
    assert M.esc("a\\b") == "a\\eb"
