# SPDX-License-Identifier: Apache-2.0
"""Agent Stack's OAuth extension on the wire, as plain data: pure, no I/O, no a2a-sdk (PROTOCOL §2.2).

- Card params: `{"oauth_demands": {"<key>": {"redirect_uri": true}}}`; the key is `"default"` or the
  URL of the resource the agent will call (agentstack-sdk 0.7.1 looks the resource URL up first).
- The first message of a task fulfils every demand: `metadata[URI] = {"oauth_fulfillments": {"<key>":
  {"redirect_uri": "<the client's loopback callback>"}}}` (without it `create_httpx_auth` raises).
- At run time the agent answers `auth-required` with `metadata[URI] = {"authorization_endpoint_url":
  "<URL>"}` (the text part says "Authorization required"); the client resumes the task with
  `metadata[URI] = {"redirect_uri": "<the full callback URL, code and state in its query>"}`.

The authorization URL and the callback URL are secrets-grade (the callback carries the code).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from keybroker.core.a2a.demand import MAX_DEMANDS

__all__ = [
    "OAUTH_EXTENSION_URI",
    "OAUTH_FULFILMENTS",
    "auth_request_url",
    "card_oauth_demands",
    "oauth_demands_of",
]

OAUTH_EXTENSION_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/oauth/v1"
OAUTH_FULFILMENTS = "oauth_fulfillments"
#: A demand key longer than this (a resource URL) is not fulfilled.
MAX_OAUTH_KEY = 2048
#: An authorization URL longer than this is not opened.
MAX_AUTH_URL = 8192


def _usable_key(key: object) -> bool:
    return (
        isinstance(key, str)
        and 0 < len(key) <= MAX_OAUTH_KEY
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in key)
    )


def card_oauth_demands(card: Mapping[str, Any]) -> tuple[str, ...]:
    """The OAuth demand keys a card declares (sorted), or () when it declares none usable.

    Lenient by design: a malformed entry is left out (the agent then fails by itself, as it would
    for any client that does not speak the extension), never an error at bridge time.
    """
    capabilities = card.get("capabilities")
    extensions = capabilities.get("extensions") if isinstance(capabilities, Mapping) else None
    if not isinstance(extensions, list):
        return ()
    keys: set[str] = set()
    for entry in extensions:
        if not isinstance(entry, Mapping) or entry.get("uri") != OAUTH_EXTENSION_URI:
            continue
        params = entry.get("params")
        demands = params.get("oauth_demands") if isinstance(params, Mapping) else None
        if isinstance(demands, Mapping):
            keys |= {k for k in demands if _usable_key(k)}
    return tuple(sorted(keys)[:MAX_DEMANDS])


@lru_cache(maxsize=256)
def oauth_demands_of(card_json: str) -> tuple[str, ...]:
    """`card_oauth_demands` of a card kept as JSON text (an `AgentRecord.card_json`), cached."""
    try:
        card = json.loads(card_json)
    except ValueError:
        return ()
    return card_oauth_demands(card) if isinstance(card, Mapping) else ()


def auth_request_url(payload: object) -> str | None:
    """The `authorization_endpoint_url` of the extension's run-time metadata, when it is an http(s) URL."""
    if not isinstance(payload, Mapping):
        return None
    url = payload.get("authorization_endpoint_url")
    if not isinstance(url, str) or len(url) > MAX_AUTH_URL:
        return None
    if not url.lower().startswith(("https://", "http://")) or any(ord(c) < 0x21 for c in url):
        return None
    return url
