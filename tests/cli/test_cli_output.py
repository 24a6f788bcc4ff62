# SPDX-License-Identifier: Apache-2.0
"""What the CLI prints of an agent's card cannot drive the terminal, forge lines or reorder text."""

from __future__ import annotations

from keybroker.cli.output import cell, table
from tests.cli.conftest import CardSite, card
from tests.conftest import RunCli

HOSTILE_NAME = "GitHub Official \u202etnega-live\x1b]0;PWNED\x07\nWhen: forged"
HOSTILE_DESCRIPTION = "line one\n\x1b]52;c;c2stdGVzdA==\x07\x1b[2J line two"


def test_cell_makes_one_safe_line() -> None:
    assert cell("a\nb\tc") == "a b c"
    assert "\x1b" not in cell(HOSTILE_NAME) and "\u202e" not in cell(HOSTILE_NAME)
    assert len(cell("x" * 100_000)) == 200


def test_table_cleans_every_cell(capsys: object) -> None:
    import io

    out = io.StringIO()
    table(["name", "description"], [[HOSTILE_NAME, "y" * 10_000]], out=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # a header and one row: the newline in the name forged nothing
    assert "\x1b" not in out.getvalue() and "\u202e" not in out.getvalue()
    assert len(lines[1]) < 500


def test_agents_list_and_show_print_hostile_card_text_inert(kb: RunCli, card_site: CardSite) -> None:
    hostile = card(name=HOSTILE_NAME)
    hostile["description"] = HOSTILE_DESCRIPTION
    # (demands with control characters are refused when the card is read: tests/core/a2a)
    card_site.set_card(hostile)
    assert kb("agents", "add", card_site.url, "--slug", "evil").returncode == 0
    for args in (("agents", "list"), ("agents", "show", "evil"), ("audit",)):
        result = kb(*args)
        assert result.returncode == 0, result.stderr
        for bad in ("\x1b", "\x07", "\u202e"):
            assert bad not in result.stdout, (args, bad)
        assert not any(line.startswith("When: forged") for line in result.stdout.splitlines()), args
