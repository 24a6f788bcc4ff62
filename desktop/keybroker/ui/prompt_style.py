# SPDX-License-Identifier: Apache-2.0
"""The prompt dialog's look, set on the dialog alone (not app-wide), in the system's colours.

Every colour is derived from the palette the desktop gives (light or dark): the card and the text from
its base and text colours, the accent from its highlight, and the warning and alert boxes from fixed
hues blended into that background. Text is made to stand out from what is behind it by at least
WCAG's 4.5:1, whatever the palette. Widgets are styled by object name, so the dialog's code only
names its parts; a rule for one part starts with `QDialog#promptDialog` so it outweighs the
dialog-wide label colour (Qt weighs selectors by specificity, not order).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtGui import QColor, QPalette

MONO = '"DejaVu Sans Mono", "Menlo", "Consolas", "Noto Sans Mono", monospace'
#: WCAG AA for normal text.
MIN_CONTRAST = 4.5
_WARN_HUE = QColor("#f08c00")
_ALERT_HUE = QColor("#e03131")


def luminance(colour: QColor) -> float:
    """WCAG relative luminance."""

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())
    )


def contrast(one: QColor, other: QColor) -> float:
    """WCAG contrast ratio, 1 to 21."""
    a, b = sorted((luminance(one), luminance(other)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def mix(one: QColor, other: QColor, share: float) -> QColor:
    """`share` of `other` blended into `one`, in whole 8-bit channels (what the style sheet gets)."""
    keep = 1.0 - share
    return QColor(
        round(one.red() * keep + other.red() * share),
        round(one.green() * keep + other.green() * share),
        round(one.blue() * keep + other.blue() * share),
    )


def readable(colour: QColor, background: QColor, toward: QColor, minimum: float = MIN_CONTRAST) -> QColor:
    """`colour`, moved toward `toward` (the plain text colour) just enough to be read on `background`."""
    for step in range(21):
        candidate = mix(colour, toward, step / 20)
        if contrast(candidate, background) >= minimum:
            return candidate
    return toward


@dataclass(frozen=True, slots=True)
class PromptColours:
    """What the prompt paints with; every `*_text` is readable on the background it is drawn on."""

    background: QColor
    text: QColor
    muted: QColor
    border: QColor
    card: QColor
    input_border: QColor
    accent: QColor
    accent_hover: QColor
    accent_text: QColor
    accent_disabled: QColor
    accent_disabled_text: QColor
    focus: QColor
    chip: QColor
    chip_border: QColor
    chip_text: QColor
    warn: QColor
    warn_border: QColor
    warn_text: QColor
    alert: QColor
    alert_border: QColor
    alert_text: QColor
    disabled_text: QColor

    @property
    def dark(self) -> bool:
        """Whether the palette is a dark one."""
        return luminance(self.background) < 0.2

    def pairs(self) -> dict[str, tuple[QColor, QColor]]:
        """Each text colour with the background it is drawn on (what must be readable)."""
        return {
            "text": (self.text, self.background),
            "muted": (self.muted, self.background),
            "muted on card": (self.muted, self.card),
            "text on card": (self.text, self.card),
            "accent_text": (self.accent_text, self.accent),
            "chip_text": (self.chip_text, self.chip),
            "warn_text": (self.warn_text, self.warn),
            "alert_text": (self.alert_text, self.alert),
            "alert_text on background": (self.alert_text, self.background),
        }


def colours_for(palette: QPalette) -> PromptColours:
    """The prompt's colours in `palette` (the desktop's, light or dark)."""
    group = QPalette.ColorGroup.Active
    background = palette.color(group, QPalette.ColorRole.Base)
    text = readable(palette.color(group, QPalette.ColorRole.Text), background, _opposite(background))
    muted = readable(mix(text, background, 0.45), mix(background, text, 0.04), text)
    # The Allow button: the desktop's highlight, deepened (or lightened) until its label reads.
    accent_text = palette.color(group, QPalette.ColorRole.HighlightedText)
    accent = readable(palette.color(group, QPalette.ColorRole.Highlight), accent_text, _opposite(accent_text))
    chip = mix(background, accent, 0.14)
    warn = mix(background, _WARN_HUE, 0.16)
    alert = mix(background, _ALERT_HUE, 0.14)
    alert_text = readable(_ALERT_HUE, alert, text)
    return PromptColours(
        background=background,
        text=text,
        muted=muted,
        border=mix(background, text, 0.14),
        card=mix(background, text, 0.03),
        input_border=mix(background, text, 0.3),
        accent=accent,
        accent_hover=mix(accent, text, 0.15),
        accent_text=accent_text,
        accent_disabled=mix(accent, background, 0.55),
        accent_disabled_text=mix(accent_text, background, 0.35),
        focus=readable(accent, background, text),
        chip=chip,
        chip_border=mix(background, accent, 0.35),
        chip_text=readable(accent, chip, text),
        warn=warn,
        warn_border=mix(background, _WARN_HUE, 0.55),
        warn_text=readable(_WARN_HUE, warn, text),
        alert=alert,
        alert_border=mix(background, _ALERT_HUE, 0.5),
        alert_text=readable(alert_text, background, text),
        disabled_text=mix(text, background, 0.55),
    )


def _opposite(colour: QColor) -> QColor:
    return QColor("#000000") if luminance(colour) > 0.4 else QColor("#ffffff")


#: The palette roles `colours_for` reads: the style sheet depends on nothing else.
_ROLES = (
    QPalette.ColorRole.Base,
    QPalette.ColorRole.Text,
    QPalette.ColorRole.Highlight,
    QPalette.ColorRole.HighlightedText,
)
#: Style sheets made, by the colours they were made from (a desktop has one or two palettes). Every
#: prompt used to derive them again: ~5,000 colour computations, a good part of a prompt's start.
_SHEETS: dict[tuple[int, ...], str] = {}


def style_sheet(palette: QPalette) -> str:
    """The dialog's style sheet for `palette` (made once per set of colours)."""
    group = QPalette.ColorGroup.Active
    key = tuple(palette.color(group, role).rgba() for role in _ROLES)
    sheet = _SHEETS.get(key)
    if sheet is None:
        if len(_SHEETS) >= 8:
            _SHEETS.clear()
        sheet = _SHEETS[key] = _make_style_sheet(palette)
    return sheet


def _make_style_sheet(palette: QPalette) -> str:
    c = {f.name: getattr(colours_for(palette), f.name).name() for f in fields(PromptColours)}
    return f"""
QDialog#promptDialog {{ background: {c["background"]}; }}
QDialog#promptDialog QLabel {{ color: {c["text"]}; }}
QDialog#promptDialog QLabel#agentName {{ font-size: 17pt; font-weight: 600; }}
QDialog#promptDialog QLabel#headline {{ color: {c["muted"]}; font-size: 10.5pt; }}
QDialog#promptDialog QLabel#fieldLabel {{ color: {c["muted"]}; }}
QDialog#promptDialog QLabel#fieldValue {{ color: {c["text"]}; }}
QDialog#promptDialog QLabel#muted, QDialog#promptDialog QLabel#reason {{ color: {c["muted"]}; }}
QDialog#promptDialog QLabel#warning {{
    background: {c["warn"]}; border: 1px solid {c["warn_border"]}; color: {c["warn_text"]};
    border-radius: 6px; padding: 7px 10px; font-weight: 600;
}}
QDialog#promptDialog QLabel#alert {{
    background: {c["alert"]}; border: 1px solid {c["alert_border"]}; color: {c["alert_text"]};
    border-radius: 6px; padding: 7px 10px; font-weight: 600;
}}
QFrame#item {{ background: {c["card"]}; border: 1px solid {c["border"]}; border-radius: 8px; }}
QFrame#item QLabel, QFrame#item QRadioButton {{ background: transparent; }}
QDialog#promptDialog QLabel#keyChip {{
    font-family: {MONO}; font-size: 10.5pt; font-weight: 600; color: {c["chip_text"]};
    background: {c["chip"]}; border: 1px solid {c["chip_border"]}; border-radius: 4px; padding: 2px 6px;
}}
QLabel#itemName {{ font-weight: 600; }}
QFrame#separator {{ background: {c["border"]}; max-height: 1px; min-height: 1px; border: none; }}
QLineEdit#secretInput {{
    font-family: {MONO}; padding: 5px 8px; border: 1px solid {c["input_border"]}; border-radius: 5px;
    background: {c["background"]}; color: {c["text"]}; selection-background-color: {c["accent"]};
    selection-color: {c["accent_text"]};
}}
QLineEdit#secretInput:focus {{ border: 1px solid {c["focus"]}; }}
QLineEdit#secretInput:disabled {{ background: {c["card"]}; color: {c["disabled_text"]}; }}
QToolButton#inputButton {{
    border: 1px solid {c["input_border"]}; border-radius: 5px; padding: 4px 8px;
    background: {c["background"]}; color: {c["text"]};
}}
QToolButton#inputButton:hover {{ background: {c["card"]}; }}
QToolButton#inputButton:checked {{ background: {c["chip"]}; border-color: {c["chip_border"]}; }}
QToolButton#inputButton:disabled {{ color: {c["disabled_text"]}; background: {c["card"]}; }}
QDialog#promptDialog QLabel#queue {{ color: {c["muted"]}; }}
QDialog#promptDialog QLabel#countdown {{ color: {c["muted"]}; }}
QDialog#promptDialog QLabel#countdown[urgent="true"] {{ color: {c["alert_text"]}; font-weight: 600; }}
QPushButton#allowButton {{
    background: {c["accent"]}; color: {c["accent_text"]}; border: 1px solid {c["accent_hover"]};
    border-radius: 6px; padding: 7px 22px; font-weight: 600; min-width: 80px;
}}
QPushButton#allowButton:hover {{ background: {c["accent_hover"]}; }}
QPushButton#allowButton:focus {{ border: 2px solid {c["text"]}; }}
QPushButton#allowButton:disabled {{
    background: {c["accent_disabled"]}; border-color: {c["accent_disabled"]};
    color: {c["accent_disabled_text"]};
}}
QPushButton#denyButton {{
    background: {c["background"]}; color: {c["text"]}; border: 1px solid {c["input_border"]};
    border-radius: 6px; padding: 7px 22px; min-width: 80px;
}}
QPushButton#denyButton:hover {{ background: {c["card"]}; }}
QPushButton#denyButton:focus {{ border: 2px solid {c["focus"]}; }}
QComboBox#scopeBox {{ min-width: 190px; }}
QRadioButton {{ spacing: 8px; color: {c["text"]}; }}
QRadioButton::indicator {{
    width: 12px; height: 12px; border-radius: 7px; border: 1px solid {c["input_border"]};
    background: {c["background"]};
}}
QRadioButton::indicator:hover {{ border-color: {c["focus"]}; }}
QRadioButton::indicator:checked {{ border: 4px solid {c["accent"]}; width: 6px; height: 6px; }}
QRadioButton:focus {{ color: {c["focus"]}; }}
QScrollArea#items {{ background: transparent; border: none; }}
QWidget#itemsBody {{ background: transparent; }}
"""
