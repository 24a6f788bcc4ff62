# SPDX-License-Identifier: Apache-2.0
"""Names for assistive technology: every control of a window gets one, from what a sighted user reads.

A screen reader announces a control by its accessible name. Where the code gave none, `name_controls`
takes, in order: the text of the label that is the control's buddy (a form's "Name:" row), the
control's own text ("Delete…" -> "Delete"), its placeholder, its tooltip. Controls whose words say
too little on their own (Show, Copy, an icon, a table) get a name where they are made.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

#: What a user acts on.
CONTROLS = (
    QAbstractButton,
    QLineEdit,
    QComboBox,
    QAbstractSpinBox,
    QAbstractItemView,
    QPlainTextEdit,
    QTextEdit,
)
#: Controls made of other widgets (a combo box's list, a table's header): their insides are Qt's.
_COMPOSITES = (QComboBox, QAbstractSpinBox, QAbstractItemView, QLineEdit, QPlainTextEdit, QTextEdit)


def spoken(text: str) -> str:
    """`&Delete…` -> `Delete`, `Key:` -> `Key`: a label's words without its decoration."""
    return " ".join(text.replace("&&", "\0").replace("&", "").replace("\0", "&").split()).rstrip(":…. ")


def name_controls(root: QWidget) -> None:
    """Give every control under `root` that has no accessible name the words a user sees for it."""
    buddies = {_key(label.buddy()): label.text() for label in root.findChildren(QLabel) if label.buddy()}
    for widget in [root, *root.findChildren(QWidget)]:
        if not isinstance(widget, CONTROLS) or widget.accessibleName() or _inside_a_composite(widget, root):
            continue
        name = spoken(buddies.get(_key(widget), ""))
        if not name and isinstance(widget, QAbstractButton) and any(c.isalnum() for c in widget.text()):
            name = spoken(widget.text())  # not a symbol such as "✕": its tooltip says more
        if not name and isinstance(widget, QLineEdit | QPlainTextEdit):
            name = spoken(widget.placeholderText())
        if not name:
            name = spoken(widget.toolTip())
        if name:
            widget.setAccessibleName(name)


def _key(widget: QWidget) -> int:
    return int(shiboken6.getCppPointer(widget)[0])


def _inside_a_composite(widget: QWidget, root: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent, _COMPOSITES):
            return True
        parent = parent.parentWidget()
    return False
