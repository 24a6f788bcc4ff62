# SPDX-License-Identifier: Apache-2.0
"""The app's objects, wired: one place builds them for `app.py` and for the screenshot driver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from keybroker.system.instance import bridge_port
from keybroker.system.paths import Paths
from keybroker.ui.controller import AppController
from keybroker.ui.events import AppEvents
from keybroker.ui.notifier import QtNotifier
from keybroker.ui.qt_prompter import QtPrompter
from keybroker.ui.screen_lock import ScreenLockWatch
from keybroker.ui.settings_host import SettingsHost
from keybroker.ui.tray import Tray
from keybroker.wiring.runtime import Runtime, RuntimeOptions


@dataclass
class AppParts:
    """Everything the running app is made of."""

    events: AppEvents
    notifier: QtNotifier
    prompter: QtPrompter
    runtime: Runtime
    settings: SettingsHost
    controller: AppController
    tray: Tray | None

    def show_tray(self) -> None:
        """Put the icon in the tray, following the controller's status from now on."""
        tray = self.tray
        if tray is None:
            return
        tray.update_status(self.controller.status())
        self.controller.status_changed.connect(lambda: tray.update_status(self.controller.status()))
        tray.show()

    def dispose(self) -> None:
        """Stop watching the screen lock and take the icon out of the tray (after the controller shut
        down)."""
        if self.controller.screen_lock is not None:
            self.controller.screen_lock.stop()  # unregisters Windows' and macOS' notifications
        if self.tray is not None:
            self.tray.dispose()


def compose(environ: Mapping[str, str], paths: Paths, *, has_tray: bool | None = None) -> AppParts:
    """Build the app's objects over `environ` (no I/O yet: `controller.start()` opens the core)."""
    env = dict(environ)
    tray_available = Tray.available() if has_tray is None else has_tray
    events = AppEvents()
    notifier = QtNotifier()
    prompter = QtPrompter(notifier=notifier)
    runtime = Runtime(RuntimeOptions(port=bridge_port(env, paths), environ=env), prompter, notifier)
    settings = SettingsHost(runtime, events, no_tray=not tray_available)
    # Watched from `controller.start()` on (lock on screen lock and sleep); the idle lock is the
    # controller's own and follows the settings.
    screen_lock = ScreenLockWatch(environ=env)
    controller = AppController(
        runtime, events, prompter, notifier, settings=settings, screen_lock=screen_lock
    )
    tray = Tray(controller) if tray_available else None
    if tray is not None:
        notifier.tray = tray.icon
    return AppParts(events, notifier, prompter, runtime, settings, controller, tray)
