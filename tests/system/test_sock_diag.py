# SPDX-License-Identifier: Apache-2.0
"""sock_diag.py: one TCP socket's owner and inode, asked of the kernel by its addresses; and
peer_process.py's use of it, with /proc/net/tcp left for where the kernel cannot be asked."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.system import peer_process as peer_module
from keybroker.system import sock_diag
from keybroker.system.sock_diag import SockDiagUnavailable, tcp_socket


def _kernel_answers() -> bool:
    try:
        tcp_socket(("127.0.0.1", 1), ("127.0.0.1", 2))
    except SockDiagUnavailable:
        return False
    return True


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _kernel_answers(),
    reason="Linux's sock_diag, where netlink is not refused (a sandbox may refuse it)",
)


@contextlib.contextmanager
def _connection(
    family: socket.AddressFamily = socket.AF_INET,
) -> Iterator[tuple[socket.socket, socket.socket]]:
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, 0))
        server.listen()
        client = socket.create_connection(server.getsockname()[:2])
        accepted, _ = server.accept()
        try:
            yield client, accepted
        finally:
            accepted.close()
            client.close()


def _ends(sock: socket.socket) -> tuple[tuple[str, int], tuple[str, int]]:
    local, remote = sock.getsockname(), sock.getpeername()
    return (local[0], local[1]), (remote[0], remote[1])


@linux_only
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_the_kernel_names_each_end_by_its_own_inode(family: socket.AddressFamily) -> None:
    if family == socket.AF_INET6 and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    with contextlib.ExitStack() as stack:
        try:
            client, accepted = stack.enter_context(_connection(family))
        except OSError as exc:
            pytest.skip(f"no {family.name} loopback: {exc}")
        for sock in (client, accepted):
            local, remote = _ends(sock)
            assert tcp_socket(local, remote) == (os.getuid(), os.fstat(sock.fileno()).st_ino)


@linux_only
def test_a_connection_that_does_not_exist_is_none_not_an_error() -> None:
    with _connection() as (client, _):
        local, remote = _ends(client)
        assert tcp_socket(local, ("127.0.0.1", remote[1] + 1 if remote[1] < 65535 else 1)) is None
    # Closed: the client's end is gone (or in TIME_WAIT, whose inode is 0).
    found = tcp_socket(local, remote)
    assert found is None or found[1] == 0


def test_addresses_that_are_not_ip_addresses_are_value_errors() -> None:
    with pytest.raises(ValueError):
        tcp_socket(("localhost", 1), ("127.0.0.1", 2))
    with pytest.raises(ValueError):
        tcp_socket(("127.0.0.1", 1), ("::1", 2))
    with pytest.raises(ValueError):
        tcp_socket(("127.0.0.1", 70000), ("127.0.0.1", 2))


def test_an_answer_about_another_request_or_socket_is_never_taken() -> None:
    local, remote = ("127.0.0.1", 40000), ("127.0.0.1", 7411)
    request = sock_diag._request(local, remote, 7)
    header = sock_diag._HEADER
    body = bytearray(72)
    body[4:8] = sock_diag._PORTS.pack(*[local[1], remote[1]])
    body[64:72] = sock_diag._OWNER.pack(1000, 123456)
    answer = header.pack(header.size + len(body), sock_diag._SOCK_DIAG_BY_FAMILY, 0, 7, 0) + bytes(body)
    assert sock_diag._answer(answer, 7, local, remote) == (1000, 123456)
    assert len(request) == header.size + 56
    with pytest.raises(SockDiagUnavailable):
        sock_diag._answer(answer, 8, local, remote)  # another sequence number
    with pytest.raises(SockDiagUnavailable):
        sock_diag._answer(answer, 7, local, ("127.0.0.1", 7412))  # another socket
    with pytest.raises(SockDiagUnavailable):
        sock_diag._answer(answer[:40], 7, local, remote)  # cut short
    short_error = header.pack(header.size + 2, sock_diag._NLMSG_ERROR, 0, 7, 0) + b"\xfe\xff"
    with pytest.raises(SockDiagUnavailable):
        sock_diag._answer(short_error, 7, local, remote)
    error = header.pack(header.size + 4, sock_diag._NLMSG_ERROR, 0, 7, 0) + (-2).to_bytes(
        4, sys.byteorder, signed=True
    )
    assert sock_diag._answer(error, 7, local, remote) is None  # ENOENT: no such socket
    refused = header.pack(header.size + 4, sock_diag._NLMSG_ERROR, 0, 7, 0) + (-1).to_bytes(
        4, sys.byteorder, signed=True
    )
    with pytest.raises(SockDiagUnavailable):
        sock_diag._answer(refused, 7, local, remote)


@linux_only
def test_a_caller_is_named_without_reading_the_machines_tcp_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel is asked about the one socket; /proc/net/tcp (every socket, ~3 ms) is not read."""
    reads: list[str] = []
    real_read_text = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        reads.append(str(self))
        return real_read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    with _connection() as (client, _):
        local, remote = _ends(client)
        assert peer_module.peer_process(local, remote) == f"pid {os.getpid()} ({_comm(os.getpid())})"
    assert not [r for r in reads if r.startswith("/proc/net/")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_where_the_kernel_cannot_be_asked_the_tcp_table_gives_the_same_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused() -> socket.socket:
        raise SockDiagUnavailable("no netlink socket: refused by the sandbox")

    with _connection() as (client, _):
        local, remote = _ends(client)
        asked = peer_module.peer_process(local, remote)
        monkeypatch.setattr(sock_diag, "_channel", refused)
        with pytest.raises(SockDiagUnavailable):
            tcp_socket(local, remote)
        assert peer_module.peer_process(local, remote) == asked == f"pid {os.getpid()} ({_comm(os.getpid())})"


@linux_only
def test_another_process_is_named_not_the_newest_or_the_bridge(tmp_path: Path) -> None:
    """A client in a child process, with a newer process started after it: the holder of the socket is
    named, found by the inode the kernel gave."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            "import socket, sys, time\n"
            f"c = socket.create_connection(('127.0.0.1', {port}))\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()\n"
        )
        argv = [sys.executable, "-c", code]
        with (
            subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder,
            contextlib.ExitStack() as stack,
        ):
            stack.callback(holder.kill)
            assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
            newer = stack.enter_context(subprocess.Popen(["sleep", "30"]))
            stack.callback(newer.kill)
            accepted, address = server.accept()
            with accepted:
                found = peer_module.peer_process((address[0], address[1]), ("127.0.0.1", port))
            assert newer.pid > holder.pid or newer.pid < 300  # newer, unless the pid numbers wrapped
            assert found == f"pid {holder.pid} ({_comm(holder.pid)})"


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()
