# SPDX-License-Identifier: Apache-2.0
"""Which card security schemes Keybroker fulfils itself (the wire parses them: core/a2a/scheme.py)."""

from __future__ import annotations

from keybroker.core.models import SecurityScheme

__all__ = ["API_KEY_LOCATIONS", "SUPPORTED_SCHEME_KINDS", "scheme_supported"]

API_KEY_LOCATIONS = ("header", "query", "cookie")
#: Scheme kinds the bridge applies itself (http only with the bearer auth scheme).
SUPPORTED_SCHEME_KINDS: frozenset[str] = frozenset({"apiKey", "http"})


def scheme_supported(scheme: SecurityScheme) -> bool:
    """True for what the bridge can send itself: an API key (header, query or cookie), a bearer token."""
    if scheme.kind == "apiKey":
        return scheme.location in API_KEY_LOCATIONS and bool(scheme.param_name)
    if scheme.kind == "http":
        return (scheme.http_scheme or "").lower() == "bearer"
    return False
