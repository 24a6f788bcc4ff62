# SPDX-License-Identifier: Apache-2.0
"""One app per user and Keybroker home: a second launch hands over to the first and exits.

Who is first is decided by an exclusive `flock` on a file in the runtime dir, held for the app's life:
the kernel drops it when the process dies, so a crash leaves nothing stale and two launches at once
cannot both win. The first app then listens on a local socket named after the user and the data dir
(a test's `KEYBROKER_HOME` is its own instance); a later launch connects, sends `show`, waits for `ok`
and exits 0, and the first one brings its settings window forward. The socket lives in
`$XDG_RUNTIME_DIR` (private to the user) when it can, and only the user may connect. Where there is no
`flock` (Windows), a live socket is the test.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import IO

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from keybroker.system.paths import Paths

log = logging.getLogger("keybroker.ui")

SHOW = b"show\n"
OK = b"ok\n"
HANDOFF_TIMEOUT_MS = 2000
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS


def server_name(paths: Paths, environ: dict[str, str] | None = None) -> str:
    """The local socket for this user and data dir."""
    env = os.environ if environ is None else environ
    digest = hashlib.sha256(str(paths.data_dir.resolve()).encode("utf-8")).hexdigest()[:16]
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        path = str(Path(runtime) / f"keybroker-app-{digest}.sock")
        if len(path.encode()) < _MAX_SOCKET_PATH:
            return path
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return f"keybroker-app-{user}-{digest}"


def hand_off(name: str, timeout_ms: int = HANDOFF_TIMEOUT_MS) -> bool:
    """Ask a running app to show itself; True when one answered (this launch should then exit)."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    try:
        socket.write(SHOW)
        if not socket.waitForBytesWritten(timeout_ms):
            return False
        reply = b""
        while OK not in reply and socket.waitForReadyRead(timeout_ms):
            reply += bytes(socket.readAll().data())
        return OK in reply
    finally:
        socket.disconnectFromServer()


class InstanceServer(QObject):
    """Listens for later launches; `show_requested` when one asks."""

    show_requested = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_new_connection)

    def listen(self) -> bool:
        """Start listening; False when another app answers on the name (or listening fails).

        A socket nobody answers on was left by a crash and is replaced. (Qt binds a private temp name
        and renames it over the target, so `listen` would silently take a live name too: hence the
        check first.)
        """
        if _answers(self.name):
            return False
        QLocalServer.removeServer(self.name)
        if self._server.listen(self.name):
            return True
        log.warning("single-instance socket %s: %s", self.name, self._server.errorString())
        return False

    def close(self) -> None:
        """Stop listening (quitting)."""
        self._server.close()

    def _on_new_connection(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(self._on_ready_read)
            socket.disconnected.connect(socket.deleteLater)

    def _on_ready_read(self) -> None:
        socket = self.sender()
        if not isinstance(socket, QLocalSocket):
            return
        data = bytes(socket.readAll().data())
        if SHOW.strip() in data:
            log.info("another launch asked this app to show itself")
            socket.write(OK)
            socket.flush()
            self.show_requested.emit()
        socket.disconnectFromServer()


def _answers(name: str) -> bool:
    probe = QLocalSocket()
    probe.connectToServer(name)
    ok = probe.waitForConnected(300)
    probe.abort()
    return ok


class InstanceLock:
    """An exclusive lock on `runtime_dir/app.lock` for as long as this app runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another app holds it. Always True without `flock` (Windows)."""
        try:
            import fcntl
        except ImportError:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(self.path, "ab")  # noqa: SIM115 - held open for the app's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        """Let the next launch be first (closing the file drops the lock)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
