# SPDX-License-Identifier: Apache-2.0
"""Which local process holds the other end of a loopback TCP connection, where the OS tells.

On Linux the client's end of the TCP connection is a socket owned by some process: ask the kernel for
the socket's inode and owner by its addresses (sock_diag.py, ~10 µs; where it cannot be asked, find it
in `/proc/net/tcp{,6}`, ~3 ms: local address = the client's, remote = the server's), then the process
holding that inode among its file descriptors. Only processes of the same user are visible, which
are the ones that matter. Elsewhere, or when anything is unreadable, the answer is None.

The scan of processes costs up to milliseconds (more on a busy desktop), and a demand may be
fulfilled on every request, so answers are remembered per connection for a few seconds
(`recent_peer`, `lookup_peer`): a keep-alive client is looked up once. An ephemeral port is not
handed to another process within that window in practice. The bridge (core/bridge/caller.py) and
the management API name their callers with it (DESIGN §4: the audit names the calling process).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

from keybroker.system.sock_diag import SockDiagUnavailable, tcp_socket

__all__ = ["Address", "lookup_peer", "peer_process", "recent_peer"]

#: (host, port) of one end of a TCP connection.
Address = tuple[str, int]

_PROC = Path("/proc")
_MAX_FDS_SCANNED = 200_000
_REMEMBER_SECONDS = 10.0
_REMEMBER_MAX = 512


class _RecentCallers:
    """(client, server) -> answer, for a few seconds; thread-safe (lookups run in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[Address, Address], tuple[float, str | None]] = OrderedDict()

    def get(self, key: tuple[Address, Address]) -> tuple[bool, str | None]:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is None or now - hit[0] > _REMEMBER_SECONDS:
                return False, None
            return True, hit[1]

    def put(self, key: tuple[Address, Address], answer: str | None) -> None:
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


def _table_inode(client: Address, server: Address) -> str | None:
    """The socket's inode as /proc/net/tcp{,6} lists it (where sock_diag cannot be asked)."""
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


def _socket_inode(client: Address, server: Address) -> str | None:
    """The inode of the client's end, or None: unknown, or owned by a user whose processes this one
    cannot see (then no scan could find it)."""
    try:
        found = tcp_socket(client, server)
    except SockDiagUnavailable:
        return _table_inode(client, server)
    except ValueError:
        return None
    if found is None:
        return None
    uid, inode = found
    uid_here = os.getuid()
    if uid_here != 0 and uid != uid_here:
        return None
    return str(inode)


def _process_name(pid: str) -> str:
    try:
        return (_PROC / pid / "comm").read_text().strip() or "?"
    except OSError:
        return "?"


def peer_process(client: Address, server: Address) -> str | None:
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


def recent_peer(client: Address, server: Address) -> tuple[bool, str | None]:
    """`(True, answer)` when `lookup_peer` would answer without scanning, else `(False, None)`.

    No file is read: cheap enough for an event loop.
    """
    return _recent.get((client, server))


def lookup_peer(client: Address, server: Address) -> str | None:
    """`peer_process`, remembered for a few seconds per connection; never raises."""
    known, answer = _recent.get((client, server))
    if known:
        return answer
    try:
        answer = peer_process(client, server)
    except (OSError, ValueError):
        answer = None
    _recent.put((client, server), answer)
    return answer
