# SPDX-License-Identifier: Apache-2.0
"""The outcome of an audit chain check, impossible to misread: green and intact, or red and broken."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QVBoxLayout, QWidget

from keybroker.core.audit.log import AuditReport
from keybroker.ui.settings.formatting import full_time, short_id

MAX_PROBLEMS_SHOWN = 8


class VerifyResult(QFrame):
    """Hidden until a check ran; then says ok or broken, and why."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verifyResult")
        self.icon = QLabel()
        self.icon.setFixedSize(32, 32)
        self.title = QLabel()
        self.title.setObjectName("verifyTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setAutoRaise(True)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAccessibleName("Dismiss the result")
        close.clicked.connect(lambda: self.setVisible(False))
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.body)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 8, 6, 8)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.ok: bool | None = None
        self.setVisible(False)

    def show_report(self, report: AuditReport, checked_at: float) -> None:
        """Show `report`."""
        self.ok = report.ok
        style = self.style()
        if report.ok:
            icon = QStyle.StandardPixmap.SP_DialogApplyButton
            self.title.setText("The audit log is intact")
            lines = [
                f"{report.count} event{'s' if report.count != 1 else ''} checked at {full_time(checked_at)}; "
                f"every hash links to the one before, and the last matches the head kept in the vault "
                f"({short_id(report.head, 16)})."
            ]
            lines += [f"Note: {w}" for w in report.warnings]
            color, background = "#1b5e20", "#e8f5e9"
        else:
            icon = QStyle.StandardPixmap.SP_MessageBoxCritical
            self.title.setText("The audit log is broken: events were changed, removed or reordered")
            problems = list(report.problems)
            lines = [f"• {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
            if len(problems) > MAX_PROBLEMS_SHOWN:
                lines.append(
                    f"… and {len(problems) - MAX_PROBLEMS_SHOWN} more (`keybroker audit verify` lists all)"
                )
            color, background = "#b71c1c", "#ffebee"
        self.icon.setPixmap(style.standardIcon(icon).pixmap(32, 32))
        self.body.setText("\n".join(lines))
        self.setStyleSheet(
            f"#verifyResult {{ background: {background}; border: 1px solid {color}; border-radius: 4px; }}"
            f"#verifyResult QLabel {{ color: {color}; background: transparent; }}"
        )
        self.setVisible(True)
