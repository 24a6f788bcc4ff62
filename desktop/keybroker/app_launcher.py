"""Starting the tray app from the CLI: refuse cleanly when there is no display (exit 4)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

EXIT_NO_DISPLAY = 4


def has_display(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether a GUI can open: always on macOS/Windows, X11 or Wayland elsewhere."""
    if platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def launch_app(environ: Mapping[str, str]) -> int:
    """Run the tray app, or explain why it cannot start."""
    if not has_display(environ) and environ.get("QT_QPA_PLATFORM") != "offscreen":
        sys.stderr.write(
            "keybroker: no display to show the tray app on (neither DISPLAY nor WAYLAND_DISPLAY is set)\n"
            "  hint: run the bridge without a window: keybroker serve --headless\n"
        )
        return EXIT_NO_DISPLAY
    from keybroker.app import run

    return run(environ)
