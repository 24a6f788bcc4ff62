# SPDX-License-Identifier: Apache-2.0
"""Which card security schemes Keybroker fulfils itself (the wire parses them: core/a2a/scheme.py).

Three kinds of credential:
- a *value* from the vault, like any secret (`secrets set KEY --agent S --scheme NAME`): an API key
  (header, query or cookie), an HTTP bearer token, HTTP basic's `user:password`;
- an OAuth 2 *token* (`oauth2`, `openIdConnect`), obtained by a sign-in (core/auth/);
- a client *certificate* (`mutualTLS`), imported once and presented on the TLS connection.
"""

from __future__ import annotations

from typing import Literal

from keybroker.core.models import SecurityScheme

__all__ = [
    "API_KEY_LOCATIONS",
    "SUPPORTED_SCHEME_KINDS",
    "CredentialKind",
    "credential_kind",
    "scheme_is_value",
    "scheme_supported",
]

API_KEY_LOCATIONS = ("header", "query", "cookie")
#: Scheme kinds the bridge applies itself (http only with the bearer or basic auth scheme).
SUPPORTED_SCHEME_KINDS: frozenset[str] = frozenset({"apiKey", "http", "oauth2", "openIdConnect", "mutualTLS"})
#: HTTP auth schemes (RFC 9110 §11) the bridge sends.
HTTP_SCHEMES = ("bearer", "basic")

CredentialKind = Literal["value", "token", "certificate"]


def credential_kind(scheme: SecurityScheme) -> CredentialKind | None:
    """What the scheme's credential is (module docstring), or None when Keybroker cannot send it."""
    if scheme.kind == "apiKey":
        return "value" if scheme.location in API_KEY_LOCATIONS and bool(scheme.param_name) else None
    if scheme.kind == "http":
        return "value" if (scheme.http_scheme or "").lower() in HTTP_SCHEMES else None
    if scheme.kind in ("oauth2", "openIdConnect"):
        return "token"
    if scheme.kind == "mutualTLS":
        return "certificate"
    return None


def scheme_is_value(scheme: SecurityScheme) -> bool:
    """True for a scheme whose credential is a vault value (an API key, a bearer token, basic)."""
    return credential_kind(scheme) == "value"


def scheme_supported(scheme: SecurityScheme) -> bool:
    """True for what the bridge can send itself (module docstring)."""
    return credential_kind(scheme) is not None
