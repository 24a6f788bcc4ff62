# SPDX-License-Identifier: Apache-2.0
"""HTTP to an OpenBao cluster for the OpenBao backend: kept-open connections and failover between nodes.

Longer than 300 lines because the retry loop, leader discovery and per-thread connection reuse share
one state (which node is preferred, which connections are open) and are easier to check read together.

Built on the standard library's `http.client`, not hvac or httpx: those cost 190-250 ms of imports
(measured here), and the OpenBao backend sits on the path of `secrets show --reveal`, whose whole process
has 150 ms (DESIGN §7). The backend uses a dozen JSON endpoints, nothing a full client adds to.

Failover: `addresses` are the cluster's nodes. A request goes to the node that last answered (the active
one, once known: standbys serve stale reads, which would make check-and-set writes conflict with
ourselves). While the cluster has no active node (a leader was lost), nodes answer 307, 429, 500 "not
active", 503 or "waiting for the primary": the request is retried across the nodes with a short backoff
for up to `failover_seconds`, so a leader change costs a caller the election and no error. When no node
accepts a connection at all, the call fails after `connect_grace` seconds: an unreachable server is
reported at once, not after the failover budget. Retrying a write is safe because every write carries a
check-and-set version (openbao.py).

Nothing here logs or raises a token or a value: errors name the address, the method and the path.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from keybroker.core.vault.backend import BackendUnavailable

_UNAVAILABLE_HINT = (
    "check that OpenBao is running and reachable (`keybroker vault show`); values already granted keep "
    "serving from memory until their grants end"
)
_SEALED_HINT = "OpenBao is sealed: whoever runs it must unseal it (`bao operator unseal`)"
#: Texts of answers that mean "no active node here right now": retry elsewhere or a little later.
_NOT_ACTIVE = (
    "local node not active",
    "active cluster node not found",
    "waiting for the primary",
    "node not active",
    "standby",
)
_MAX_BACKOFF = 0.5


@dataclass(frozen=True, slots=True)
class Reply:
    """A parsed answer: the status, the JSON body (`{}` when empty) and the node that gave it."""

    status: int
    body: Mapping[str, Any]
    address: str

    @property
    def errors(self) -> str:
        """OpenBao's `errors` list as one line (no token or value ever appears there)."""
        errors = self.body.get("errors")
        if isinstance(errors, list):
            return "; ".join(" ".join(str(e).split()) for e in errors)[:300]
        return ""


@dataclass
class _Connections:
    """One thread's open connections, by address."""

    by_address: dict[str, http.client.HTTPConnection] = field(default_factory=dict)


class BaoHttp:
    """JSON requests to the first OpenBao node that serves them (see the module docstring)."""

    def __init__(
        self,
        addresses: tuple[str, ...],
        *,
        ca_file: str = "",
        timeout: float = 5.0,
        failover_seconds: float = 10.0,
        connect_grace: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not addresses:
            raise ValueError("no OpenBao address")
        self.addresses = addresses
        self._ca_file = ca_file
        self.timeout = timeout
        self.failover_seconds = failover_seconds
        self.connect_grace = connect_grace
        self._clock = clock
        self._sleep = sleep
        self._preferred = addresses[0]
        self._leader_known = len(addresses) == 1
        self._local = threading.local()
        self._all: list[_Connections] = []
        self._lock = threading.Lock()
        self._ssl_context: Any = None

    def __repr__(self) -> str:
        return f"BaoHttp({', '.join(self.addresses)})"

    @property
    def preferred(self) -> str:
        """The node requests go to first: the one that last answered."""
        return self._preferred

    # Connections ---------------------------------------------------------------------------------

    def _connections(self) -> _Connections:
        conns: _Connections | None = getattr(self._local, "conns", None)
        if conns is None:
            conns = _Connections()
            self._local.conns = conns
            with self._lock:
                self._all.append(conns)
        return conns

    def _open(self, address: str, timeout: float) -> http.client.HTTPConnection:
        parts = urlsplit(address)
        host, port = parts.hostname or "", parts.port
        if parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context())
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _context(self) -> Any:
        if self._ssl_context is None:
            import ssl  # only for https: ~25 ms of imports a loopback server never needs

            self._ssl_context = ssl.create_default_context(cafile=self._ca_file or None)
        return self._ssl_context

    def release_thread(self) -> None:
        """Close this thread's connections (a vault worker thread ending)."""
        conns: _Connections | None = getattr(self._local, "conns", None)
        if conns is not None:
            self._close(conns)
            with self._lock:
                if conns in self._all:
                    self._all.remove(conns)
            self._local.conns = None

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            every, self._all = self._all, []
        for conns in every:
            self._close(conns)

    @staticmethod
    def _close(conns: _Connections) -> None:
        for conn in conns.by_address.values():
            conn.close()
        conns.by_address.clear()

    # Requests ------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Reply:
        """Send to the preferred node, failing over (module docstring); `BackendUnavailable` when no node
        serves within the budget. Any status the cluster means (2xx, 4xx, 5xx errors) is returned."""
        headers = {"Accept": "application/json"}
        if token:
            headers["X-Vault-Token"] = token
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if not self._leader_known:
            self._find_leader()
        started = self._clock()
        deadline = started + self.failover_seconds
        backoff = 0.05
        problem = "no answer"
        sealed = True
        while True:
            refused_everywhere = True
            for address in self._order():
                remaining = max(0.5, min(self.timeout, deadline - self._clock()))
                try:
                    reply = self._send(address, method, path, headers, payload, remaining)
                except (OSError, http.client.HTTPException) as exc:
                    problem = f"{address}: {type(exc).__name__}: {_short(exc)}"
                    continue
                refused_everywhere = False
                reason = _busy_reason(reply)
                if reason is None:
                    if address != self._preferred:  # failed over: the node that answered may be a standby
                        self._preferred, self._leader_known = address, False
                    return reply
                problem = f"{address}: {reason}"
                sealed = sealed and reason == "sealed"
                self._follow_redirect(reply)
            now = self._clock()
            if refused_everywhere and now - started >= self.connect_grace:
                raise BackendUnavailable(f"cannot reach OpenBao ({problem})", hint=_UNAVAILABLE_HINT)
            if now >= deadline:
                if sealed and not refused_everywhere:
                    raise BackendUnavailable(f"OpenBao is sealed ({problem})", hint=_SEALED_HINT)
                raise BackendUnavailable(
                    f"no active OpenBao node within {self.failover_seconds:.0f} s ({problem})",
                    hint=_UNAVAILABLE_HINT,
                )
            self._sleep(min(backoff, max(0.0, deadline - now)))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def is_active(self, address: str) -> bool:
        """Whether the node at `address` is the active one (a single node always is); False when it
        does not say (`GET /v1/sys/leader`)."""
        try:
            reply = self._send(address, "GET", "/v1/sys/leader", {}, None, self.timeout)
        except (OSError, http.client.HTTPException):
            return False
        return reply.status == 200 and (
            reply.body.get("is_self") is True or reply.body.get("ha_enabled") is False
        )

    def forget_leader(self) -> None:
        """The node in use answered something stale: ask who leads before the next request."""
        if len(self.addresses) > 1:
            self._leader_known = False

    def _find_leader(self) -> None:
        """Prefer the active node (`GET /v1/sys/leader`, asked of each node until one knows)."""
        for address in self._order():
            try:
                reply = self._send(address, "GET", "/v1/sys/leader", {}, None, self.timeout)
            except (OSError, http.client.HTTPException):
                continue
            leader = reply.body.get("leader_address") if reply.status == 200 else None
            if isinstance(leader, str) and leader:
                origin = leader.rstrip("/")
                if origin in self.addresses:
                    self._preferred = origin
                self._leader_known = True  # one of ours or not: asked; failing over asks again
                return
            if reply.status == 200 and reply.body.get("ha_enabled") is False:
                self._leader_known = True
                return

    def _order(self) -> list[str]:
        preferred = self._preferred
        return [preferred, *(a for a in self.addresses if a != preferred)]

    def _follow_redirect(self, reply: Reply) -> None:
        """A standby's 307 names the active node: prefer it if it is one of ours (a token is never sent
        to an address the user did not configure)."""
        location = reply.body.get("_location")
        if isinstance(location, str):
            parts = urlsplit(location)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin in self.addresses:
                self._preferred = origin

    def _send(
        self,
        address: str,
        method: str,
        path: str,
        headers: Mapping[str, str],
        payload: bytes | None,
        timeout: float,
    ) -> Reply:
        conns = self._connections().by_address
        for attempt in (1, 2):
            conn = conns.get(address)
            reused = conn is not None
            if conn is None:
                conn = conns[address] = self._open(address, timeout)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=payload, headers=dict(headers))
                response = conn.getresponse()
                raw = response.read()
                location = response.getheader("Location")
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(address, None)
                if reused and attempt == 1:
                    continue  # a kept-open connection the server had closed: one fresh try
                raise
            if response.will_close:
                conn.close()
                conns.pop(address, None)
            body = _parse(raw)
            if location and response.status in (301, 302, 303, 307, 308):
                body = {**body, "_location": location}
            return Reply(response.status, body, address)
        raise AssertionError("unreachable")  # pragma: no cover


def _parse(raw: bytes) -> Mapping[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {"errors": [raw[:200].decode("utf-8", "replace")]}
    return body if isinstance(body, dict) else {"errors": ["answer is not a JSON object"]}


def _busy_reason(reply: Reply) -> str | None:
    """Why this answer means "no active node here now" (retry elsewhere), or None for a real answer."""
    status = reply.status
    if status in (301, 302, 303, 307, 308):
        return "standby (redirects to the active node)"
    if status == 429:
        return "standby"
    errors = reply.errors.lower()
    if status == 503 and "sealed" in errors:
        return "sealed"
    if status in (502, 503, 504):
        return f"HTTP {status}"
    if status in (400, 500) and any(text in errors for text in _NOT_ACTIVE):
        return "no active node"
    return None


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120]
