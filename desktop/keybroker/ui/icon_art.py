# SPDX-License-Identifier: Apache-2.0
"""The key icon, drawn as SVG: one source for the tray states, the app icon and `resources/icons/`.

The art lives here, as text, so the running app needs no files beside its code (a wheel, a PyInstaller
bundle and a source checkout all find it); `scripts/render-icons.py` writes the same SVGs and their PNG
renderings to `resources/icons/` for the `.desktop` launcher and packages. No Qt here.

Every state is the same key on a rounded tile, so the icon reads on light and dark panels alike; states
differ by tile colour and a large corner badge (a badge must still read at 16 px).
"""

from __future__ import annotations

import enum


class IconState(enum.StrEnum):
    """What the tray icon shows."""

    READY = "ready"
    WAITING = "waiting"
    LOCKED = "locked"
    VAULT_UNAVAILABLE = "vault-unavailable"
    STOPPED = "stopped"


#: PNG sizes rendered for `resources/icons/` (the hicolor theme sizes plus tray sizes).
PNG_SIZES: tuple[int, ...] = (16, 22, 24, 32, 48, 64, 128, 256, 512)

_TILES: dict[IconState, tuple[str, str]] = {
    IconState.READY: ("#4c6ef5", "#2b44c4"),
    IconState.WAITING: ("#4c6ef5", "#2b44c4"),
    IconState.LOCKED: ("#5c677d", "#38404f"),
    IconState.VAULT_UNAVAILABLE: ("#5c677d", "#38404f"),
    IconState.STOPPED: ("#8a929e", "#5f6670"),
}

# A key lying diagonally: the bow (a ring) top left, the shaft down to the right, two bits below it.
# Drawn on a 64x64 grid, rotated as one group so every part keeps its proportions.
_KEY = """
  <g transform="rotate(45 32 32)" fill="{key}">
    <path fill-rule="evenodd" d="M17 20.5a11.5 11.5 0 1 1 0 23a11.5 11.5 0 1 1 0-23z
      M17 27.2a4.8 4.8 0 1 0 0 9.6a4.8 4.8 0 1 0 0-9.6z"/>
    <rect x="27" y="28.4" width="30" height="7.2" rx="1.6"/>
    <rect x="45.5" y="33" width="5.4" height="10.5" rx="1.2"/>
    <rect x="52.2" y="33" width="4.8" height="8" rx="1.2"/>
  </g>"""

# The same key for 16-24 px: fewer, heavier parts (one bit, a thicker shaft, a wider hole), so each part
# still covers whole pixels.
_KEY_SMALL = """
  <g transform="rotate(45 32 32)" fill="{key}">
    <path fill-rule="evenodd" d="M16 18a14 14 0 1 1 0 28a14 14 0 1 1 0-28z
      M16 26a6 6 0 1 0 0 12a6 6 0 1 0 0-12z"/>
    <rect x="27" y="27" width="32" height="10" rx="2"/>
    <rect x="47" y="33" width="9" height="13" rx="1.5"/>
  </g>"""

# Badges sit in the bottom-right quarter (top-right for the "waiting" dot), with a white ring so they
# stand off the tile.
_BADGES: dict[IconState, str] = {
    IconState.WAITING: """
  <circle cx="50" cy="14" r="13" fill="#ffffff"/>
  <circle cx="50" cy="14" r="10.5" fill="#f76707"/>
  <circle cx="50" cy="14" r="3.6" fill="#ffffff"/>""",
    IconState.LOCKED: """
  <circle cx="48" cy="48" r="15" fill="#ffffff"/>
  <path d="M41.5 46v-3.5a6.5 6.5 0 0 1 13 0V46" fill="none" stroke="#212529" stroke-width="3.4"/>
  <rect x="38.5" y="45" width="19" height="13" rx="2.4" fill="#212529"/>
  <circle cx="48" cy="51.2" r="2" fill="#ffffff"/>""",
    IconState.VAULT_UNAVAILABLE: """
  <circle cx="48" cy="48" r="15" fill="#ffffff"/>
  <circle cx="48" cy="48" r="12.5" fill="#e03131"/>
  <rect x="45.8" y="39" width="4.4" height="11" rx="2.2" fill="#ffffff"/>
  <circle cx="48" cy="55" r="2.5" fill="#ffffff"/>""",
    IconState.STOPPED: """
  <circle cx="48" cy="48" r="15" fill="#ffffff"/>
  <circle cx="48" cy="48" r="12.5" fill="#343a40"/>
  <rect x="42.5" y="42.5" width="11" height="11" rx="1.6" fill="#ffffff"/>""",
}


#: At or below this many pixels the heavier key and larger badges are drawn.
SMALL_SIZE = 24


def svg(state: IconState = IconState.READY, size: int = 64) -> str:
    """The SVG document for `state`, hinted for `size` pixels (64x64 user units; scales to any size)."""
    top, bottom = _TILES[state]
    small = size <= SMALL_SIZE
    colour = "#ffffff" if state is not IconState.STOPPED else "#eef0f3"
    key = (_KEY_SMALL if small else _KEY).format(key=colour)
    badge = _BADGES.get(state, "")
    if badge and small:
        # Grow the badge about its own centre, pulled inwards so it stays on the canvas.
        cx, cy, nx, ny = (50, 14, 47, 17) if state is IconState.WAITING else (48, 48, 45, 45)
        badge = f'\n  <g transform="translate({nx} {ny}) scale(1.3) translate({-cx} {-cy})">{badge}\n  </g>'
    edge, side, radius = (0, 64, 12) if small else (2, 60, 14)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">
  <defs>
    <linearGradient id="tile" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="{top}"/>
      <stop offset="1" stop-color="{bottom}"/>
    </linearGradient>
  </defs>
  <rect x="{edge}" y="{edge}" width="{side}" height="{side}" rx="{radius}" fill="url(#tile)"/>{key}{badge}
</svg>
"""
