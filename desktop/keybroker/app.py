# SPDX-License-Identifier: Apache-2.0
"""The tray app's composition root: Qt adapters injected into the core, one qasync loop for all.

`run(environ)` (called by `keybroker` with no command when a display exists):

1. QApplication; a second launch for the same user and Keybroker home hands over to the first one
   (which brings its settings window forward) and exits 0;
2. the tray icon first (time to icon is what the user sees), then the core on the same loop: vault and
   catalog opened off the UI thread, the bridge and management API bound (`Runtime`);
3. until Quit, SIGTERM/SIGINT/SIGHUP or the session's end, then a clean shutdown: prompts withdrawn,
   bridge stopped, vault worker joined, `instance.json` removed.

Without a tray the settings window opens instead and says why (or, at autostart, one notification).
Nothing here wakes an idle app: no timers, no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keybroker import APP_ID
from keybroker.system.paths import Paths

if TYPE_CHECKING:
    from PySide6.QtCore import QObject

    from keybroker.ui.controller import AppController
    from keybroker.ui.events import AppEvents
    from keybroker.ui.notifier import QtNotifier
    from keybroker.ui.qt_prompter import QtPrompter
    from keybroker.ui.settings_host import SettingsHost
    from keybroker.ui.tray import Tray
    from keybroker.wiring.runtime import Runtime

log = logging.getLogger("keybroker.app")

EXIT_OK = 0
EXIT_NOT_ANSWERING = 1
#: How long a second launch keeps asking a first one that is still starting.
HAND_OVER_SECONDS = 5.0
#: `KEYBROKER_AUTOSTART=1` (set by the autostart entry): no window at login on a desktop without a tray.
AUTOSTART_ENV = "KEYBROKER_AUTOSTART"


def run(environ: Mapping[str, str]) -> int:
    """Run the tray app until it quits; the process exit code."""
    started = time.monotonic()
    env = dict(environ)
    from PySide6.QtWidgets import QApplication

    from keybroker.ui.startup_memory import spare_source_cache

    spare_source_cache()

    from keybroker.ui.icons import app_icon
    from keybroker.ui.single_instance import InstanceLock, InstanceServer, server_name

    app = QApplication.instance() or QApplication(["keybroker"])
    assert isinstance(app, QApplication)
    app.setApplicationName("keybroker")
    app.setApplicationDisplayName("Keybroker")
    app.setDesktopFileName(APP_ID)
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(app_icon())

    paths = Paths.from_env(env)
    name = server_name(paths, env)
    lock = InstanceLock(paths.runtime_dir / "app.lock")
    if not lock.acquire():
        return _hand_over(name, paths)
    server = InstanceServer(name)
    server.listen()

    import qasync

    main = _App(app, env, paths, server, started)
    try:
        return int(qasync.run(main.main()))
    except RuntimeError as exc:
        # The session ended (QApplication.quit from outside): asyncio.run cancelled `main`, whose
        # `finally` shut everything down on a last turn of the loop; qasync then reports the stop.
        if main.shut_down and "Event loop stopped" in str(exc):
            return EXIT_OK
        raise
    finally:
        server.close()
        lock.release()


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
    """Build the app's objects over `environ` (no I/O yet: `controller.start()` opens the core).

    The one place the tray app is wired (its composition root; `main` and the screenshot driver call
    it): the Qt adapters (prompter, notifier, screen-lock watch) go into the runtime
    (wiring/runtime.py), which opens the core, the bridge and the management API.
    """
    from keybroker.system.instance import bridge_port
    from keybroker.ui.controller import AppController
    from keybroker.ui.events import AppEvents
    from keybroker.ui.notifier import QtNotifier
    from keybroker.ui.qt_prompter import QtPrompter
    from keybroker.ui.screen_lock import ScreenLockWatch
    from keybroker.ui.settings_host import SettingsHost
    from keybroker.ui.sign_in_dialogs import QtSignInPrompter
    from keybroker.ui.tray import Tray
    from keybroker.wiring.runtime import Runtime, RuntimeOptions

    env = dict(environ)
    tray_available = Tray.available() if has_tray is None else has_tray
    events = AppEvents()
    notifier = QtNotifier()
    prompter = QtPrompter(notifier=notifier)
    runtime = Runtime(
        RuntimeOptions(port=bridge_port(env, paths), environ=env),
        prompter,
        notifier,
        sign_in_prompter=QtSignInPrompter(),  # "sign in?" and device codes (issue 13)
    )
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


def _hand_over(name: str, paths: Paths) -> int:
    """Another app runs for this home: ask it to show itself (it may still be starting) and exit,
    saying what `keybroker status` says of it (its bridge may be paused)."""
    from keybroker.system.instance import read_instance
    from keybroker.ui.single_instance import hand_off

    deadline = time.monotonic() + HAND_OVER_SECONDS
    while True:
        if hand_off(name):
            running = read_instance(paths)
            state = f"already {running.describe()}" if running is not None else "already running"
            sys.stderr.write(f"keybroker: {state}\n  its window was brought forward\n")
            return EXIT_OK
        if time.monotonic() > deadline:
            sys.stderr.write(
                "keybroker: another Keybroker app runs for this data folder but does not answer\n"
                "  hint: `keybroker status` shows it; quit it from its tray icon\n"
            )
            return EXIT_NOT_ANSWERING
        time.sleep(0.25)


def _quit_filter(quit: Callable[[], None]) -> QObject:
    """An event filter that answers QEvent.Quit by calling `quit` instead of stopping the loop."""
    from PySide6.QtCore import QEvent, QObject

    class QuitFilter(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Quit:
                log.info("the application was asked to quit (session end?)")
                quit()
                return True
            return False

    return QuitFilter()


class _App:
    """What `run` wires, kept together so `main` stays readable."""

    def __init__(self, app: object, env: dict[str, str], paths: Paths, server: object, started: float):
        self.app = app
        self.env = env
        self.paths = paths
        self.server = server
        self.started = started
        self.shut_down = False

    async def main(self) -> int:
        from PySide6.QtGui import QGuiApplication, QSessionManager

        from keybroker.ui.single_instance import InstanceServer

        app = self.app
        assert isinstance(app, QGuiApplication) and isinstance(self.server, InstanceServer)
        parts = compose(self.env, self.paths)
        controller = parts.controller
        has_tray = parts.tray is not None
        if has_tray:
            parts.show_tray()
            log.info("tray icon shown %.0f ms after start (at %.3f)", self._ms(), time.time())
        elif self.env.get(AUTOSTART_ENV) == "1":
            parts.notifier.notify(
                "Keybroker is running", "This desktop has no tray: start Keybroker again to open it."
            )
        else:
            log.info("no system tray on this desktop: opening the settings window instead")
            controller.show_settings()

        self.server.show_requested.connect(lambda: controller.show_settings())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signum, controller.quit)
        # QApplication.quit() from outside (the session ending, a platform "close all") would stop the
        # Qt loop, and with it the asyncio loop, before the bridge and vault are shut down: turn it
        # into our own Quit, which ends `main` and then the loop.
        quit_filter = _quit_filter(controller.quit)
        app.installEventFilter(quit_filter)
        app.aboutToQuit.connect(controller.quit)

        def commit_data(manager: QSessionManager) -> None:
            # The session manager must not restore us at the next login: the autostart entry does.
            manager.setRestartHint(QSessionManager.RestartHint.RestartNever)

        app.commitDataRequest.connect(commit_data)

        try:
            state = await controller.start()
            log.info("started in %.0f ms: %s", self._ms(), state.value)
            from keybroker.system.heap import settle

            settle()
            if controller.problem and not has_tray:
                controller.show_problem()
            await controller.quit_requested.wait()
        finally:
            log.info("shutting down")
            try:
                await controller.shutdown()
            finally:
                app.removeEventFilter(quit_filter)
                parts.dispose()
                self.shut_down = True
                log.info("stopped")
        return EXIT_OK

    def _ms(self) -> float:
        return (time.monotonic() - self.started) * 1000
