# SPDX-License-Identifier: Apache-2.0
"""Which local process is calling the bridge, where the OS tells (DESIGN §4: the audit names it).

On Linux the client's end of the TCP connection is a socket owned by some process: find the socket's
inode in `/proc/net/tcp{,6}` (local address = the client's, remote = the bridge's), then the process
holding that inode among its file descriptors. Only processes of the same user are visible, which
are the ones that matter. Elsewhere, or when anything is unreadable, the answer is None.

The scan costs milliseconds (more on a busy desktop), and a demand may be fulfilled on every request,
so answers are remembered per client connection for a few seconds: a keep-alive client is looked up
once. An ephemeral port is not handed to another process within that window in practice.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a2a-sdk is imported only once a bridged request needs it (app.py)
    from a2a.server.context import ServerCallContext

__all__ = ["caller_from_context", "peer_process", "remembered_caller"]

_PROC = Path("/proc")
_MAX_FDS_SCANNED = 200_000
_REMEMBER_SECONDS = 10.0
_REMEMBER_MAX = 512


class _RecentCallers:
    """(client, server) -> answer, for a few seconds; thread-safe (lookups run in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[tuple[str, int], tuple[str, int]], tuple[float, str | None]] = (
            OrderedDict()
        )

    def get(self, key: tuple[tuple[str, int], tuple[str, int]]) -> tuple[bool, str | None]:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is None or now - hit[0] > _REMEMBER_SECONDS:
                return False, None
            return True, hit[1]

    def put(self, key: tuple[tuple[str, int], tuple[str, int]], answer: str | None) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), answer)
            self._items.move_to_end(key)
            while len(self._items) > _REMEMBER_MAX:
                self._items.popitem(last=False)


_recent = _RecentCallers()


def _proc_address(address: str, port: int) -> tuple[str, str] | None:
    """The /proc/net/tcp spelling of `address:port` (hex, host byte order per 32-bit word)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    packed = ip.packed
    words = [packed[i : i + 4] for i in range(0, len(packed), 4)]
    order = sys.byteorder
    text = "".join(
        f"{int.from_bytes(w, 'big'):08X}" if order == "big" else w[::-1].hex().upper() for w in words
    )
    table = "tcp6" if ip.version == 6 else "tcp"
    return table, f"{text}:{port:04X}"


def _socket_inode(client: tuple[str, int], server: tuple[str, int]) -> str | None:
    local = _proc_address(*client)
    remote = _proc_address(*server)
    if local is None or remote is None or local[0] != remote[0]:
        return None
    try:
        lines = (_PROC / "net" / local[0]).read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[1] == local[1] and fields[2] == remote[1]:
            return fields[9]
    return None


def _process_name(pid: str) -> str:
    try:
        return (_PROC / pid / "comm").read_text().strip() or "?"
    except OSError:
        return "?"


def peer_process(client: tuple[str, int], server: tuple[str, int]) -> str | None:
    """`"pid 1234 (python3)"` for the process on the client end of a loopback TCP connection."""
    if not sys.platform.startswith("linux"):
        return None
    inode = _socket_inode(client, server)
    if inode is None or inode == "0":
        return None
    target = f"socket:[{inode}]"
    scanned = 0
    try:
        pids = [p.name for p in _PROC.iterdir() if p.name.isdigit()]
    except OSError:
        return None
    uid = os.getuid()
    # Newest processes first: the caller usually is one; other users' processes are skipped unread.
    for pid in sorted(pids, key=int, reverse=True):
        try:
            if uid != 0 and (_PROC / pid).stat().st_uid != uid:
                continue
            fds = list((_PROC / pid / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            scanned += 1
            if scanned > _MAX_FDS_SCANNED:
                return None
            try:
                if str(fd.readlink()) == target:
                    return f"pid {pid} ({_process_name(pid)})"
            except OSError:
                continue
    return None


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, list | tuple) and len(value) >= 2 and isinstance(value[1], int):
        host = value[0]
        if isinstance(host, str):
            return host, value[1]
    return None


def _connection(context: ServerCallContext) -> tuple[tuple[str, int], tuple[str, int]] | None:
    client = _address(context.state.get("client"))
    server = _address(context.state.get("server"))
    if client is None or server is None:
        return None
    return client, server


def remembered_caller(context: ServerCallContext) -> tuple[bool, str | None]:
    """`(True, caller)` when `caller_from_context` would answer without scanning, else `(False, None)`.

    No file is read: cheap enough for the event loop, so a keep-alive client's later requests skip
    the worker thread `caller_from_context` needs.
    """
    key = _connection(context)
    if key is None:
        return True, None  # nothing to look up: caller_from_context answers None at once
    return _recent.get(key)


def caller_from_context(context: ServerCallContext) -> str | None:
    """The calling process for a request whose context holds `client`/`server` (jsonrpc_route.py)."""
    known, answer = remembered_caller(context)
    if known:
        return answer
    key = _connection(context)
    assert key is not None  # remembered_caller answers for a context without addresses
    client, server = key
    try:
        answer = peer_process(client, server)
    except (OSError, ValueError):
        answer = None
    _recent.put((client, server), answer)
    return answer
