# SPDX-License-Identifier: Apache-2.0
"""The owner and inode of one TCP socket, asked of the Linux kernel by its four addresses.

peer_process.py needs the inode of the client's end of a connection. `/proc/net/tcp` lists every TCP
socket of the machine, formatted by the kernel at each read: ~3 ms with a few hundred sockets (a
machine that just ran a benchmark holds thousands in TIME_WAIT), paid for every new connection the
bridge names the caller of. sock_diag (netlink, the interface `ss` uses) looks one socket up by its
addresses instead: one request, one answer of 72 bytes, ~10 µs, for any user (no privilege is needed
to ask about a socket by its exact addresses).

`tcp_socket(local, remote)` answers `(uid, inode)` for the socket whose own end is `local` and whose
peer is `remote`, or None when there is no such socket. It raises `SockDiagUnavailable` when the
kernel cannot be asked (not Linux, netlink refused by a sandbox, no inet_diag module, an answer that
does not parse): the caller then reads /proc/net/tcp as before.

Layouts (linux/netlink.h, linux/inet_diag.h; netlink fields in host order, ports and addresses in
network order):
- nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid;
- inet_diag_req_v2: u8 family, u8 protocol, u8 ext, u8 pad, u32 states, inet_diag_sockid;
- inet_diag_sockid: be16 sport, be16 dport, be32 src[4], be32 dst[4], u32 if, u32 cookie[2];
- inet_diag_msg: u8 family, state, timer, retrans, inet_diag_sockid, u32 expires, rqueue, wqueue,
  uid, inode.
Without NLM_F_DUMP the kernel looks the one socket up (`inet_diag_find_one_icsk`): `src:sport` is the
socket's own end. An error comes back as NLMSG_ERROR with a negative errno (ENOENT: no such socket).
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import socket
import struct
import sys

__all__ = ["SockDiagUnavailable", "tcp_socket"]

Address = tuple[str, int]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_ALL_STATES = 0xFFFFFFFF
_NO_COOKIE = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")
_REQUEST = struct.Struct("=BBBxI")
_PORTS = struct.Struct("!HH")
_TAIL = struct.Struct("=III")  # interface, cookie[2]
_OWNER = struct.Struct("=II")  # uid, inode
_MESSAGE_SIZE = 72  # inet_diag_msg
_OWNER_AT = 64  # uid's offset in inet_diag_msg
_ANSWER_TIMEOUT = 1.0  # seconds: the kernel answers before sendto returns; never wait longer than this

_sequence = itertools.count(1)


class SockDiagUnavailable(OSError):
    """The kernel could not be asked (module docstring): read /proc/net/tcp instead."""


def _packed(address: str) -> tuple[int, bytes]:
    """(address family, the address's 4 or 16 bytes) of an IP address in text."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return (socket.AF_INET if ip.version == 4 else socket.AF_INET6), ip.packed


def _request(local: Address, remote: Address, sequence: int) -> bytes:
    family, source = _packed(local[0])
    remote_family, destination = _packed(remote[0])
    if family != remote_family:
        raise ValueError("the two addresses are of different families")
    if not (0 <= local[1] <= 0xFFFF and 0 <= remote[1] <= 0xFFFF):
        raise ValueError("a TCP port is 0-65535")
    body = (
        _REQUEST.pack(family, socket.IPPROTO_TCP, 0, _ALL_STATES)
        + _PORTS.pack(local[1], remote[1])
        + source.ljust(16, b"\0")
        + destination.ljust(16, b"\0")
        + _TAIL.pack(0, _NO_COOKIE, _NO_COOKIE)
    )
    return _HEADER.pack(_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, sequence, 0) + body


def _answer(data: bytes, sequence: int, local: Address, remote: Address) -> tuple[int, int] | None:
    if len(data) < _HEADER.size:
        raise SockDiagUnavailable("sock_diag answered with a short message")
    length, kind, _, seq, _ = _HEADER.unpack_from(data)
    if seq != sequence or length > len(data):
        raise SockDiagUnavailable("sock_diag answered another request")
    if kind == _NLMSG_ERROR:
        if length < _HEADER.size + 4:
            raise SockDiagUnavailable("sock_diag answered with a short error")
        (code,) = struct.unpack_from("=i", data, _HEADER.size)
        if -code == errno.ENOENT:
            return None
        raise SockDiagUnavailable(f"sock_diag refused: errno {-code}")
    if kind != _SOCK_DIAG_BY_FAMILY or length < _HEADER.size + _MESSAGE_SIZE:
        raise SockDiagUnavailable(f"sock_diag answered message type {kind}")
    sport, dport = _PORTS.unpack_from(data, _HEADER.size + 4)
    if (sport, dport) != (local[1], remote[1]):
        raise SockDiagUnavailable("sock_diag answered about another socket")
    uid, inode = _OWNER.unpack_from(data, _HEADER.size + _OWNER_AT)
    return uid, inode


def _channel() -> socket.socket:
    """A netlink socket to ask sock_diag on."""
    try:
        family = socket.AF_NETLINK  # type: ignore[attr-defined,unused-ignore]
        return socket.socket(family, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except (OSError, AttributeError) as exc:
        raise SockDiagUnavailable(f"no netlink socket: {exc}") from None


def tcp_socket(local: Address, remote: Address) -> tuple[int, int] | None:
    """(owner's uid, inode) of the TCP socket with its own end at `local` and its peer at `remote`;
    None when there is none. Raises `SockDiagUnavailable` when the kernel cannot be asked, and
    ValueError for an address that is not an IP address (or two of different families)."""
    if not sys.platform.startswith("linux"):
        raise SockDiagUnavailable("sock_diag is Linux's")
    sequence = next(_sequence) & 0xFFFFFFFF
    message = _request(local, remote, sequence)
    with _channel() as channel:
        try:
            channel.settimeout(_ANSWER_TIMEOUT)
            channel.sendto(message, (0, 0))
            data = channel.recv(8192)
        except OSError as exc:
            raise SockDiagUnavailable(f"sock_diag did not answer: {exc}") from None
    return _answer(data, sequence, local, remote)
