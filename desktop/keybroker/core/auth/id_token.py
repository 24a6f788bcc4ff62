# SPDX-License-Identifier: Apache-2.0
"""An OpenID Connect ID token, checked before anything in it is believed (OIDC Core §3.1.3.7).

joserfc (authlib's JOSE library; authlib.jose points to it) verifies the signature against the
issuer's JWKS and the registered claims: `iss` is the discovered issuer, `aud` holds our client id,
`exp` is in the future (60 s leeway), `nonce` is the one this sign-in sent (the code flow; the device
flow sends none, RFC 8628: its token is checked for the rest). `alg=none` and symmetric algorithms are
refused (only the asymmetric ones a JWKS can publish are allowed). What is kept is the subject (`sub`,
or a name for the Sign-ins tab); the token itself goes to the vault like the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from keybroker.core.auth.server_info import AuthServer, fetch_json
from keybroker.core.errors import SignInDenied

__all__ = ["ALGORITHMS", "IdentityClaims", "verify_id_token"]

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class IdentityClaims:
    """Who signed in, from a verified ID token."""

    subject: str
    name: str | None


async def verify_id_token(
    token: str, server: AuthServer, *, client_id: str, nonce: str | None, http: httpx.AsyncClient
) -> IdentityClaims:
    """Verify `token` (module docstring); `SignInDenied` saying which check failed. `nonce`: the one the
    sign-in sent, None for a flow that sends none (device)."""
    if not server.jwks_uri or not server.issuer:
        raise SignInDenied("the ID token cannot be checked: the server publishes no JWKS or issuer")
    keys = await fetch_json(http, server.jwks_uri, "JWKS")
    try:
        key_set = KeySet.import_key_set(keys)  # type: ignore[arg-type]
        decoded = jwt.decode(token, key_set, algorithms=list(ALGORITHMS))
        checks: dict[str, Any] = {
            "iss": {"essential": True, "value": server.issuer},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            checks["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(now=int(time.time()), leeway=LEEWAY_SECONDS, **checks)
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise SignInDenied(f"the ID token does not verify ({exc.error}); the sign-in is refused") from None
    except (ValueError, TypeError):
        raise SignInDenied("the ID token is malformed; the sign-in is refused") from None
    claims = decoded.claims
    name = claims.get("email") or claims.get("name") or claims.get("preferred_username")
    return IdentityClaims(subject=str(claims["sub"]), name=name if isinstance(name, str) else None)
