# SPDX-License-Identifier: Apache-2.0
"""Card security credentials the bridge sends itself (PROTOCOL.md §1, core/agents/schemes.py).

- `alternatives(agent, usable)`: the card's requirements (an OR of ANDs) the bridge can meet, in card
  order: one whose every scheme is `usable` (by default: a vault value, i.e. an API key in a header,
  query or cookie, an HTTP bearer token or HTTP basic; the bridge adds OAuth 2 / OIDC tokens and
  client certificates when it can get them). A card that declares schemes but no requirement gets
  each usable scheme alone (nothing is asked for until the agent refuses a request).
- `Credentials`: the values for one alternative. `apply(request)` returns a *copy* of an httpx request
  with them added (header, `?name=value`, `Cookie: name=value`, `Authorization: Bearer ...` for a
  bearer or OAuth 2 / OIDC token, `Authorization: Basic ...` for `user:password`). A mutual TLS
  scheme has no value here (`presented`): its certificate is on the agent's connection pool. The
  caller's request is left as it was, so what httpx logs or puts in an error (the request URL) never
  holds a query-string key.
- `CredentialTransport`: the upstream's httpx transport. A request carrying the private `MARKER`
  header gets the credentials registered under its value, just before the wire, and only when the URL
  is https or plain http to a loopback host (DESIGN §4); the marker itself never leaves. Values stay
  out of `ClientCallContext` (a pydantic model whose repr a library might log): only the marker's
  random id travels through a2a-sdk.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets as _random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from keybroker.core.agents.schemes import scheme_is_value
from keybroker.core.broker.transport import insecure_transport_reason
from keybroker.core.models import AgentRecord, SecretDemand, SecretValue, SecurityScheme

__all__ = [
    "MARKER",
    "CredentialRegistry",
    "CredentialTransport",
    "Credentials",
    "alternatives",
    "scheme_demand",
]

log = logging.getLogger("keybroker.bridge")

#: The private header naming the credentials to apply (removed before the request leaves).
MARKER = "x-keybroker-credentials"
#: Header and cookie values: visible ASCII, no leading or trailing space (RFC 9110 §5.5, RFC 6265).
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")


def scheme_demand(scheme: SecurityScheme) -> SecretDemand:
    """The demand the broker sees for a scheme: key and scheme are the scheme's name."""
    if scheme.kind == "apiKey":
        name = f"API key ({scheme.location} {scheme.param_name})"
    elif _is_basic(scheme):
        name = "User name and password (user:password)"
    elif scheme.kind in ("oauth2", "openIdConnect"):
        name = "Sign-in (OAuth 2 access token)"
    else:
        name = "Bearer token" + (f" ({scheme.bearer_format})" if scheme.bearer_format else "")
    return SecretDemand(key=scheme.name, name=name, description=scheme.description, scheme=scheme.name)


def _is_basic(scheme: SecurityScheme) -> bool:
    return scheme.kind == "http" and (scheme.http_scheme or "").lower() == "basic"


def alternatives(
    agent: AgentRecord, usable: Callable[[SecurityScheme], bool] = scheme_is_value
) -> tuple[tuple[SecurityScheme, ...], ...]:
    """The requirements the bridge can meet, in card order (see the module docstring)."""
    by_name = {s.name: s for s in agent.schemes}
    if not agent.security:
        return tuple((s,) for s in agent.schemes if usable(s))
    found: list[tuple[SecurityScheme, ...]] = []
    for requirement in agent.security:
        schemes = tuple(by_name[n] for n in requirement if n in by_name)
        ok = len(schemes) == len(requirement) and all(usable(s) for s in schemes)
        if requirement and ok and schemes not in found:
            found.append(schemes)
    return tuple(found)


def value_problem(scheme: SecurityScheme, value: str) -> str | None:
    """Why `value` cannot be sent the way `scheme` says (never quoting it), or None."""
    if scheme.kind == "apiKey" and scheme.location == "query":
        return None  # percent-encoded: any text goes
    if _is_basic(scheme):
        # RFC 7617 §2: user-id and password joined by the first colon; the pair is base64-encoded.
        if ":" not in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
            return f"the value for scheme {scheme.name!r} must be user:password (no control characters)"
        return None
    pattern = _COOKIE_VALUE if scheme.kind == "apiKey" and scheme.location == "cookie" else _HEADER_VALUE
    if not pattern.fullmatch(value):
        where = "a cookie" if pattern is _COOKIE_VALUE else "an HTTP header"
        return (
            f"the value for scheme {scheme.name!r} cannot be sent in {where} "
            "(it has spaces or characters not allowed there)"
        )
    return None


@dataclass(frozen=True)
class Credentials:
    """The values for one alternative, by scheme. Masked in repr (values are `SecretValue`s)."""

    items: tuple[tuple[SecurityScheme, SecretValue], ...]
    #: Schemes met without a value here: mutual TLS (the certificate is on the connection pool).
    presented: tuple[SecurityScheme, ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        """The demand keys (scheme names) these credentials answer."""
        return frozenset(s.name for s, _ in self.items)

    @property
    def schemes(self) -> tuple[SecurityScheme, ...]:
        """The schemes, values first, then those presented on the connection."""
        return tuple(s for s, _ in self.items) + self.presented

    def value_of(self, scheme: str) -> SecretValue | None:
        """The value sent for `scheme`, if any."""
        return next((v for s, v in self.items if s.name == scheme), None)

    def released(self) -> Iterator[SecretValue]:
        """Every value an agent given these credentials may echo: each value, and HTTP basic's
        password alone (an agent quoting the password without the user name gives it away too)."""
        for scheme, value in self.items:
            yield value
            if _is_basic(scheme):
                password = value.reveal().partition(":")[2]
                if password:
                    yield SecretValue(password)

    def apply(self, request: httpx.Request) -> httpx.Request:
        """A copy of `request` carrying the credentials; `request` itself is not changed."""
        headers = request.headers.copy()
        params: dict[str, str] = {}
        cookies: list[str] = []
        for scheme, value in self.items:
            text = value.reveal()
            if _is_basic(scheme):
                headers["Authorization"] = "Basic " + base64.b64encode(text.encode()).decode()
            elif scheme.kind in ("http", "oauth2", "openIdConnect"):
                headers["Authorization"] = f"Bearer {text}"
            elif scheme.location == "header" and scheme.param_name:
                headers[scheme.param_name] = text
            elif scheme.location == "query" and scheme.param_name:
                params[scheme.param_name] = text
            elif scheme.location == "cookie" and scheme.param_name:
                cookies.append(f"{scheme.param_name}={text}")
        url = request.url.copy_merge_params(params) if params else request.url
        if cookies:
            existing = headers.get("cookie")
            headers["Cookie"] = "; ".join([existing, *cookies] if existing else cookies)
        return httpx.Request(
            request.method, url, headers=headers, stream=request.stream, extensions=request.extensions
        )


def build_credentials(
    schemes: Sequence[SecurityScheme], values: Mapping[str, SecretValue]
) -> Credentials | None:
    """Credentials for `schemes` from `values` (by scheme name); None when one is missing or unusable."""
    items: list[tuple[SecurityScheme, SecretValue]] = []
    presented: list[SecurityScheme] = []
    for scheme in schemes:
        if scheme.kind == "mutualTLS":
            presented.append(scheme)
            continue
        value = values.get(scheme.name)
        if value is None:
            return None
        problem = value_problem(scheme, value.reveal())
        if problem is not None:
            log.warning("credentials not sent: %s", problem)
            return None
        items.append((scheme, value))
    return Credentials(tuple(items), tuple(presented))


@dataclass
class CredentialRegistry:
    """Credentials in use by requests in flight, by the random id their marker header carries."""

    _live: dict[str, Credentials] = field(default_factory=dict)

    @contextmanager
    def registered(self, credentials: Credentials | None) -> Iterator[dict[str, str]]:
        """The headers marking a call with `credentials` (none for None), valid for the block."""
        if credentials is None:
            yield {}
            return
        marker = _random.token_urlsafe(16)
        self._live[marker] = credentials
        try:
            yield {MARKER: marker}
        finally:
            self._live.pop(marker, None)

    def get(self, marker: str) -> Credentials | None:
        """The credentials registered under `marker`, if still in use."""
        return self._live.get(marker)


class CredentialTransport(httpx.AsyncBaseTransport):
    """Applies registered credentials to marked requests, then hands them to `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, registry: CredentialRegistry) -> None:
        self._inner = inner
        self._registry = registry

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        marker = request.headers.get(MARKER)
        if marker is None:
            return await self._inner.handle_async_request(request)
        del request.headers[MARKER]
        credentials = self._registry.get(marker)
        if credentials is None:
            return await self._inner.handle_async_request(request)
        if insecure_transport_reason(str(request.url)) is not None:
            log.warning("credentials not sent to %s: not https and not loopback", request.url.host)
            return await self._inner.handle_async_request(request)
        return await self._inner.handle_async_request(credentials.apply(request))

    async def aclose(self) -> None:
        await self._inner.aclose()
