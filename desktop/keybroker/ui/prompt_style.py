# SPDX-License-Identifier: Apache-2.0
"""The prompt dialog's look: a light approval card, set on the dialog alone (not app-wide).

Widgets are styled by object name, so the dialog's code only names its parts.
"""

from __future__ import annotations

ACCENT = "#3b5bdb"
ACCENT_DARK = "#2f4ac0"
TEXT = "#1f2328"
MUTED = "#5c6370"
BORDER = "#dee2e6"
WARN_BG, WARN_BORDER, WARN_TEXT = "#fff4e6", "#ffc078", "#8a4100"
ALERT_BG, ALERT_BORDER, ALERT_TEXT = "#fff0f0", "#ffa8a8", "#a51d1d"
MONO = '"DejaVu Sans Mono", "Menlo", "Consolas", "Noto Sans Mono", monospace'

STYLE = f"""
QDialog#promptDialog {{ background: #ffffff; }}
QDialog#promptDialog QLabel {{ color: {TEXT}; }}
QLabel#agentName {{ font-size: 17pt; font-weight: 600; }}
QLabel#headline {{ color: {MUTED}; font-size: 10.5pt; }}
QLabel#fieldLabel {{ color: {MUTED}; }}
QLabel#fieldValue {{ color: {TEXT}; }}
QLabel#muted, QLabel#reason {{ color: {MUTED}; }}
QLabel#warning {{
    background: {WARN_BG}; border: 1px solid {WARN_BORDER}; color: {WARN_TEXT};
    border-radius: 6px; padding: 7px 10px; font-weight: 600;
}}
QLabel#alert {{
    background: {ALERT_BG}; border: 1px solid {ALERT_BORDER}; color: {ALERT_TEXT};
    border-radius: 6px; padding: 7px 10px; font-weight: 600;
}}
QFrame#item {{ background: #f8f9fa; border: 1px solid {BORDER}; border-radius: 8px; }}
QFrame#item QLabel, QFrame#item QRadioButton {{ background: transparent; }}
QLabel#keyChip {{
    font-family: {MONO}; font-size: 10.5pt; font-weight: 600; color: #1b3a8c;
    background: #e7edff; border: 1px solid #c5d2ff; border-radius: 4px; padding: 2px 6px;
}}
QLabel#itemName {{ font-weight: 600; }}
QFrame#separator {{ background: {BORDER}; max-height: 1px; min-height: 1px; border: none; }}
QLineEdit#secretInput {{
    font-family: {MONO}; padding: 5px 8px; border: 1px solid #ced4da; border-radius: 5px;
    background: #ffffff; color: {TEXT}; selection-background-color: {ACCENT};
}}
QLineEdit#secretInput:focus {{ border: 1px solid {ACCENT}; }}
QLineEdit#secretInput:disabled {{ background: #f1f3f5; color: #adb5bd; }}
QToolButton#inputButton {{
    border: 1px solid #ced4da; border-radius: 5px; padding: 4px 8px; background: #ffffff; color: {TEXT};
}}
QToolButton#inputButton:hover {{ background: #f1f3f5; }}
QToolButton#inputButton:checked {{ background: #e7edff; border-color: #c5d2ff; }}
QToolButton#inputButton:disabled {{ color: #adb5bd; background: #f8f9fa; }}
QLabel#queue {{ color: {MUTED}; }}
QLabel#countdown {{ color: {MUTED}; }}
QLabel#countdown[urgent="true"] {{ color: {ALERT_TEXT}; font-weight: 600; }}
QPushButton#allowButton {{
    background: {ACCENT}; color: #ffffff; border: 1px solid {ACCENT_DARK}; border-radius: 6px;
    padding: 7px 22px; font-weight: 600; min-width: 80px;
}}
QPushButton#allowButton:hover {{ background: {ACCENT_DARK}; }}
QPushButton#allowButton:focus {{ border: 2px solid #1c2f80; }}
QPushButton#allowButton:disabled {{ background: #a5b4ee; border-color: #a5b4ee; }}
QPushButton#denyButton {{
    background: #ffffff; color: {TEXT}; border: 1px solid #ced4da; border-radius: 6px;
    padding: 7px 22px; min-width: 80px;
}}
QPushButton#denyButton:hover {{ background: #f1f3f5; }}
QPushButton#denyButton:focus {{ border: 2px solid {ACCENT}; }}
QComboBox#scopeBox {{ min-width: 190px; }}
QRadioButton {{ spacing: 8px; color: {TEXT}; }}
QRadioButton::indicator {{
    width: 12px; height: 12px; border-radius: 7px; border: 1px solid #868e96; background: #ffffff;
}}
QRadioButton::indicator:hover {{ border-color: {ACCENT}; }}
QRadioButton::indicator:checked {{ border: 4px solid {ACCENT}; width: 6px; height: 6px; }}
QRadioButton:focus {{ color: #1c2f80; }}
QScrollArea#items {{ background: transparent; border: none; }}
QWidget#itemsBody {{ background: transparent; }}
"""
