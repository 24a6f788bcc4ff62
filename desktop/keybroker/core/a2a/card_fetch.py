# SPDX-License-Identifier: Apache-2.0
"""Fetching an agent card: `GET <base>/.well-known/agent-card.json` (PROTOCOL.md §1).

The legacy `/.well-known/agent.json` (A2A 0.2) is tried only when the current path answers 404.
Redirects are never followed (a redirect could move a card, and later the secrets, to another host)
and proxies are never used (`trust_env=False`: no proxy may see loopback traffic). The body is read
as a stream and cut off at 1 MiB. httpx errors become Keybroker errors here, at the edge.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from keybroker import __version__
from keybroker.core.a2a.card import MAX_CARD_BYTES, ParsedCard, parse_card
from keybroker.core.agents.url import CARD_PATH, LEGACY_CARD_PATH, normalise_agent_url
from keybroker.core.errors import AgentUnreachable, InvalidCardError, InvalidInputError

_HEADERS = {"Accept": "application/json", "User-Agent": f"keybroker/{__version__}"}


@dataclass(frozen=True)
class FetchedCard:
    """A card as fetched: where from, the JSON as served, and its parsed form."""

    base_url: str  # the agent's base URL, no trailing slash
    card_url: str  # the URL that answered (the legacy path when the fallback was used)
    data: dict[str, Any]
    parsed: ParsedCard


def _legacy_url(card_url: str) -> str | None:
    """Where to try after a 404, or None when `card_url` already is the legacy path."""
    if card_url.endswith(CARD_PATH):
        return card_url[: -len(CARD_PATH)] + LEGACY_CARD_PATH
    return None


def _check_status(response: httpx.Response, card_url: str) -> None:
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location", "")[:200]
        raise InvalidCardError(
            f"the agent card at {card_url} redirects (HTTP {status}) to {location!r}; "
            "Keybroker never follows redirects",
            hint="add the agent with the URL it redirects to, if you trust it",
        )
    if status == 404:
        raise InvalidCardError(f"no agent card at {card_url} (HTTP 404)")
    if 400 <= status < 500:
        raise InvalidCardError(f"the agent card at {card_url} is refused: HTTP {status}")
    if status >= 500:
        raise AgentUnreachable(f"the agent at {card_url} fails: HTTP {status}")
    if status != 200:
        raise InvalidCardError(f"the agent card at {card_url} answered HTTP {status}, expected 200")


def _check_length(response: httpx.Response, card_url: str) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CARD_BYTES:
        raise InvalidCardError(f"the agent card at {card_url} is larger than {MAX_CARD_BYTES} bytes")


#: Seconds a whole card download may take. The client's timeout bounds each read only: a server
#: trickling a byte a second would hold `agents add` (or the settings window's Add) for hours.
CARD_DEADLINE = 20.0


def _add_chunk(body: bytearray, chunk: bytes, card_url: str, deadline: float) -> None:
    body += chunk
    if len(body) > MAX_CARD_BYTES:
        raise InvalidCardError(f"the agent card at {card_url} is larger than {MAX_CARD_BYTES} bytes")
    if time.monotonic() > deadline:
        raise AgentUnreachable(f"the agent at {card_url} took over {CARD_DEADLINE:g} s to send its card")


def _decode(body: bytes, card_url: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # json's messages give a position, never the body: safe to show.
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InvalidCardError(f"the agent card at {card_url} is not JSON ({detail})") from None
    if not isinstance(data, dict):
        raise InvalidCardError(f"the agent card at {card_url} is not a JSON object")
    return data


def _parsed(base_url: str, card_url: str, data: dict[str, Any]) -> FetchedCard:
    try:
        parsed = parse_card(data)
    except InvalidCardError as exc:
        raise InvalidCardError(f"invalid agent card at {card_url}: {exc}") from None
    return FetchedCard(base_url=base_url, card_url=card_url, data=data, parsed=parsed)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from (anyio hides ECONNREFUSED under 'All connection attempts failed')."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        causes = list(_causes(exc))
        text = " ".join(str(c) for c in causes).lower()
        if "refused" in text or any(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused"
        if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
            return "host name not found"
        return "cannot connect"
    return f"connection failed ({type(exc).__name__})"


@contextmanager
def _mapped_errors(base_url: str) -> Iterator[None]:
    """httpx's errors as Keybroker's (STYLE habit 7: own the errors at the edge)."""
    try:
        yield
    except httpx.UnsupportedProtocol as exc:
        raise InvalidInputError(f"unsupported URL for an agent: {base_url}: {exc}") from None
    except httpx.TransportError as exc:
        raise AgentUnreachable(f"no agent answers at {base_url}: {_transport_reason(exc)}") from None
    except httpx.InvalidURL as exc:
        raise InvalidInputError(f"not a valid URL: {base_url}: {exc}") from None


async def _get_async(client: httpx.AsyncClient, card_url: str) -> dict[str, Any] | None:
    """The card JSON at `card_url`, or None on a 404."""
    async with client.stream("GET", card_url, headers=_HEADERS, follow_redirects=False) as response:
        if response.status_code == 404:
            return None
        _check_status(response, card_url)
        _check_length(response, card_url)
        body = bytearray()
        deadline = time.monotonic() + CARD_DEADLINE
        async for chunk in response.aiter_bytes():
            _add_chunk(body, chunk, card_url, deadline)
    return _decode(bytes(body), card_url)


def _get_sync(client: httpx.Client, card_url: str) -> dict[str, Any] | None:
    """The card JSON at `card_url`, or None on a 404."""
    with client.stream("GET", card_url, headers=_HEADERS, follow_redirects=False) as response:
        if response.status_code == 404:
            return None
        _check_status(response, card_url)
        _check_length(response, card_url)
        body = bytearray()
        deadline = time.monotonic() + CARD_DEADLINE
        for chunk in response.iter_bytes():
            _add_chunk(body, chunk, card_url, deadline)
    return _decode(bytes(body), card_url)


def _not_found(card_url: str, legacy: str | None) -> InvalidCardError:
    tried = card_url if legacy is None else f"{card_url} nor {legacy}"
    return InvalidCardError(f"no agent card at {tried} (HTTP 404)")


async def fetch_card(url: str, client: httpx.AsyncClient) -> FetchedCard:
    """Fetch and parse the card of the agent at `url` (a base or card URL) with `client`.

    The client should be built with `trust_env=False`; redirects are refused whatever its settings.
    Raises `InvalidInputError`, `AgentUnreachable` or `InvalidCardError`.
    """
    base_url, card_url = normalise_agent_url(url)
    with _mapped_errors(base_url):
        data = await _get_async(client, card_url)
        legacy = _legacy_url(card_url)
        if data is None and legacy is not None:
            data = await _get_async(client, legacy)
            if data is not None:
                card_url = legacy
    if data is None:
        raise _not_found(card_url, legacy)
    return _parsed(base_url, card_url, data)


def fetch_card_sync(url: str, *, timeout: float = 10.0) -> FetchedCard:
    """`fetch_card` for callers without an event loop (the CLI): its own client, no proxy, no redirect."""
    base_url, card_url = normalise_agent_url(url)
    with (
        httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client,
        _mapped_errors(base_url),
    ):
        data = _get_sync(client, card_url)
        legacy = _legacy_url(card_url)
        if data is None and legacy is not None:
            data = _get_sync(client, legacy)
            if data is not None:
                card_url = legacy
    if data is None:
        raise _not_found(card_url, legacy)
    return _parsed(base_url, card_url, data)
