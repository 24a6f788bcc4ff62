# SPDX-License-Identifier: Apache-2.0
"""Text from agent cards and requests, made safe to show on a terminal or in a dialog.

A card's name, description, scheme and demand names are chosen by whoever runs the agent. Shown as
they are they could:
- drive the terminal: ESC sequences clear the screen, set the title, write the clipboard (OSC 52);
- forge lines: a newline inside a name prints a fake `When:` line under it;
- reorder what is read: bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE and friends) make
  "GitHub Official \u202etnega-live" read as "GitHub Official evil-agent";
- hide characters: zero-width spaces make two different names look the same.

`one_line` replaces every control character (C0, DEL, C1), line and paragraph separator and Unicode
format character (category Cf: bidi controls, zero-width spaces, the BOM) with a replacement character,
and caps the length. U+200D ZERO WIDTH JOINER is kept: emoji sequences need it and it cannot reorder
or forge text.
"""

from __future__ import annotations

import unicodedata

__all__ = ["one_line", "unsafe_char"]

#: Kept although in Cf: joins emoji sequences, reorders nothing.
_KEPT_FORMAT = frozenset({"\u200d"})
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def unsafe_char(char: str) -> bool:
    """Whether `char` must not reach a terminal or a label as it is (see the module docstring)."""
    if char in _KEPT_FORMAT:
        return False
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def one_line(text: object, limit: int | None = None, *, replacement: str = "?") -> str:
    """`text` as one safe line: unsafe characters replaced, length capped at `limit` with "…"."""
    shown = "".join(replacement if unsafe_char(c) else c for c in str(text))
    if limit is not None and len(shown) > limit:
        shown = shown[: max(limit - 1, 0)] + "…"
    return shown
