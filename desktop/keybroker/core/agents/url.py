# SPDX-License-Identifier: Apache-2.0
"""An agent's URL as the user gives it: the base URL or the card URL, checked and normalised.

Pure (no I/O): the registry's fetcher (core/a2a/card_fetch.py), the settings window's Add button, the
management API's `url` field (core/api/fields.py) and the CLI through a running instance check a URL
the same way, so all say the same thing about a bad one. A message states the rule, never the text
given (a value pasted into the wrong field must not be echoed into logs).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from keybroker.core.errors import InvalidInputError

__all__ = ["CARD_PATH", "EXAMPLE", "LEGACY_CARD_PATH", "normalise_agent_url"]

#: The hint for a URL that is not one.
EXAMPLE = "e.g. http://127.0.0.1:8000 (the agent's base URL) or its .../.well-known/agent-card.json"
CARD_PATH = "/.well-known/agent-card.json"
LEGACY_CARD_PATH = "/.well-known/agent.json"
_MAX_URL_LENGTH = 2048


def normalise_agent_url(url: str) -> tuple[str, str]:
    """(base_url, card_url) from a base URL or a card URL.

    `http://127.0.0.1:8000`, `http://127.0.0.1:8000/`, `http://h/agents/x/` and
    `http://h/agents/x/.well-known/agent-card.json` (or the legacy `agent.json`) are accepted. The
    scheme and host are lower-cased and a trailing slash dropped. Only http and https; no user name
    or password, query or fragment (they would end up stored and shown).
    """
    text = url.strip() if isinstance(url, str) else ""
    if not text:
        raise InvalidInputError("agent URL is empty", hint=EXAMPLE)
    if len(text) > _MAX_URL_LENGTH:
        raise InvalidInputError(f"agent URL is longer than {_MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(text)
        hostname, port = parts.hostname, parts.port
    except ValueError as exc:
        # Not urlsplit's own words: "Port could not be cast to integer value as '...'" quotes the text.
        why = "its port must be a number from 0 to 65535" if "Port" in str(exc) else "it cannot be parsed"
        raise InvalidInputError(f"agent URL is not a valid URL: {why}", hint=EXAMPLE) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInputError("agent URL must start with http:// or https://", hint=EXAMPLE)
    if not hostname:
        raise InvalidInputError("agent URL has no host", hint=EXAMPLE)
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError("agent URL must not contain a user name or password")
    if parts.query or parts.fragment:
        raise InvalidInputError("agent URL must not have a query or fragment")
    host = f"[{hostname}]" if ":" in hostname else hostname
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path
    for card_path in (CARD_PATH, LEGACY_CARD_PATH):
        if path.endswith(card_path):
            base_path = path[: -len(card_path)].rstrip("/")
            return urlunsplit((scheme, netloc, base_path, "", "")), urlunsplit(
                (scheme, netloc, base_path + card_path, "", "")
            )
    base = urlunsplit((scheme, netloc, path.rstrip("/"), "", ""))
    return base, base + CARD_PATH
