"""One Qt signal hub so a change made anywhere (settings window, prompt, API, CLI) shows at once in
the tray, the settings window and open dialogs."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class AppEvents(QObject):
    """Signals the UI listens to. Emitters pass a short topic; listeners re-read what they show."""

    #: something in the catalog changed: "agents", "secrets", "grants", "audit", "settings"
    changed = Signal(str)
    #: the set of pending prompts changed (count)
    prompts_changed = Signal(int)
    #: the runtime's state changed: "ready", "locked", "paused", "vault-unavailable", "stopped"
    state_changed = Signal(str)
