# SPDX-License-Identifier: Apache-2.0
"""A fake D-Bus service on the rig's private session bus (jeepney, in a child process).

`FakeService(name, {"Method": (signature, [args])})` owns `name` while the `with` block runs and answers
each listed method, on any path and interface, with that reply; any other method gets an error. It is a
process of its own (as GNOME or logind would be): a blocking QtDBus call keeps Python's GIL, so a
service on a thread of the test process could never answer it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import TracebackType
from typing import Any

from tests.conftest import subprocess_env

_REPLY_PRIMARY_OWNER = 1
_DO_NOT_QUEUE = 0x4


class FakeService:
    """Owns a well-known name on the session bus and answers the given methods."""

    def __init__(self, name: str, replies: dict[str, tuple[str, list[Any]]]) -> None:
        self.name = name
        self.replies = replies
        self.calls: list[tuple[str, str, list[Any]]] = []
        """(path, method, arguments) of each call received, once the block has ended."""
        self._child: subprocess.Popen[str] | None = None

    def __enter__(self) -> FakeService:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.ui.dbus_fakes", self.name, json.dumps(self.replies)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != "ready":
            child.kill()
            child.wait(5)
            raise RuntimeError(f"the fake {self.name} did not start: {line!r}")
        self._child = child
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        child = self._child
        if child is None:
            return
        out, _ = child.communicate("", timeout=10)  # stdin closed: the child stops
        self.calls = [tuple(json.loads(line)) for line in out.splitlines() if line]


def _serve(name: str, replies: dict[str, tuple[str, list[Any]]]) -> None:
    import select

    from jeepney import MessageType, new_error, new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(name, _DO_NOT_QUEUE), timeout=5)
    if reply.body != (_REPLY_PRIMARY_OWNER,):
        print(f"cannot own {name}: {reply.body}", flush=True)
        return
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], 0)[0]:  # until the parent closes stdin
        try:
            message = conn.receive(timeout=0.05)
        except TimeoutError:
            continue
        if message.header.message_type is not MessageType.method_call:
            continue
        fields = message.header.fields
        path, method = str(fields.get(1, "")), str(fields.get(3, ""))  # PATH, MEMBER header fields
        print(json.dumps([path, method, list(message.body)]), flush=True)
        answer = replies.get(method)
        if answer is None:
            conn.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))
        else:
            conn.send(new_method_return(message, answer[0], tuple(answer[1])))
    conn.close()


if __name__ == "__main__":
    _serve(sys.argv[1], json.loads(sys.argv[2]))
