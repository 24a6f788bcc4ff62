# SPDX-License-Identifier: Apache-2.0
"""core/safe_text.py: card text cannot drive a terminal, forge lines or reorder what the user reads."""

from __future__ import annotations

import pytest

from keybroker.core.safe_text import one_line, unsafe_char


@pytest.mark.parametrize(
    "char",
    [
        "\x1b",  # ESC: terminal sequences (clear screen, title, OSC 52 clipboard)
        "\x07",
        "\n",
        "\r",
        "\x9b",  # C1 CSI
        "\u202e",  # RIGHT-TO-LEFT OVERRIDE
        "\u2066",  # LEFT-TO-RIGHT ISOLATE
        "\u200b",  # ZERO WIDTH SPACE
        "\u200f",  # RIGHT-TO-LEFT MARK
        "\ufeff",  # BOM / zero-width no-break space
        "\u2028",  # LINE SEPARATOR
    ],
)
def test_unsafe_characters(char: str) -> None:
    assert unsafe_char(char)
    assert char not in one_line(f"a{char}b")


def test_the_bidi_spoof_reads_as_written() -> None:
    assert one_line("GitHub Official \u202etnega-live") == "GitHub Official ?tnega-live"


def test_ordinary_text_and_emoji_sequences_pass() -> None:
    text = "Issue Digest — résumé 日本語 👩\u200d💻 (v1.2)"
    assert one_line(text) == text


def test_length_cap() -> None:
    assert one_line("x" * 100_000, 10) == "x" * 9 + "…"
    assert one_line("short", 10) == "short"
