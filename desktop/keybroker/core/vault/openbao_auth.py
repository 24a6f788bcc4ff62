# SPDX-License-Identifier: Apache-2.0
"""Logging in to OpenBao and keeping the token alive, for the OpenBao backend.

Longer than 300 lines because three auth methods share one token life (load, renew, refuse, log in
again); where typed credentials are kept is openbao_credentials.py.

Where the token comes from (`token` method), first found wins: `BAO_TOKEN` or `VAULT_TOKEN`, a token typed
once into `keybroker vault login` (kept in the OS vault, service `keybroker-openbao`), `~/.vault-token`
(what `bao login` writes). AppRole and userpass log in with a secret id or a password typed once into
`keybroker vault login` (kept in the OS vault too) and keep the token they get there, so a short command
does not log in again. Credentials are kept per address: a token typed for one server is never sent to
another.

The token is renewed when less than half of its period is left; when it can no longer be renewed (its
max TTL), AppRole and userpass log in again and a plain token is used until it expires. A refused token
(403 on `auth/token/lookup-self`: expired or revoked) is `BackendAuthRequired` with the fix, after one
fresh login for the methods that can. Nothing here logs, raises or reprs a token or a password.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keybroker.core.vault.backend import BackendAuthRequired, BackendError
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.core.vault.openbao_credentials import Credentials
from keybroker.core.vault.openbao_http import BaoHttp, Reply
from keybroker.core.vault.openbao_time import parse_time

TOKEN_ENV = ("BAO_TOKEN", "VAULT_TOKEN")
LOGIN_HINT = "log in again with `keybroker vault login` (or set BAO_TOKEN to a valid token)"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What `vault show` tells about the token in use (never the token)."""

    source: str
    display_name: str = ""
    policies: tuple[str, ...] = ()
    expires: float | None = None
    """Seconds since the epoch; None: the token does not expire (a root token)."""
    renewable: bool = False
    period: float = 0.0
    """The TTL the token was given (and is renewed by)."""


class BaoAuth:
    """The token for each request: loaded or logged in once, renewed in time (module docstring)."""

    def __init__(
        self,
        config: OpenBaoConfig,
        http: BaoHttp,
        *,
        environ: Mapping[str, str] | None = None,
        credentials: Credentials | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._http = http
        self._env = dict(os.environ if environ is None else environ)
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.RLock()
        self._token: str | None = None
        self._info: TokenInfo | None = None
        self._renewal_exhausted = False

    def __repr__(self) -> str:
        source = self._info.source if self._info else "not loaded"
        return f"BaoAuth({self._config.auth}, {source})"

    # Credential names: kept per address (and role or user), never shared between servers ----------

    def credential_name(self, kind: str) -> str:
        """The OS vault account of a credential of this configuration."""
        who = {"approle": self._config.role_id, "userpass": self._config.username}.get(self._config.auth, "")
        where = f"{self._config.address}/{self._config.login_mount}" if who else self._config.address
        return f"{kind}@{where}" + (f"/{who}" if who else "")

    # The token -----------------------------------------------------------------------------------

    def token(self) -> str:
        """A token to send now: loaded or logged in on first use, renewed when due."""
        with self._lock:
            if self._token is None:
                self._load()
            self._keep_alive()
            assert self._token is not None
            return self._token

    def info(self) -> TokenInfo:
        """The token's identity and expiry (asks OpenBao the first time)."""
        with self._lock:
            self.token()
            assert self._info is not None
            return self._info

    def refused(self, token: str) -> None:
        """OpenBao refused `token` (lookup-self answered 403): log in again where the method can, else
        raise `BackendAuthRequired`. Returns when a new token is ready to retry with."""
        with self._lock:
            if self._token != token:
                return  # another call already replaced it
            source = self._info.source if self._info else "the token"
            if self._config.auth != "token" and self._secret_for_login() is not None:
                self._forget_login_token()
                self._login()
                return
            self._token, self._info = None, None
            raise BackendAuthRequired(f"OpenBao refused {source} (expired or revoked)", hint=LOGIN_HINT)

    def token_works(self, token: str) -> bool:
        """Whether OpenBao still accepts `token` (the `default` policy lets every token look itself up)."""
        reply = self._http.request("GET", "/v1/auth/token/lookup-self", token=token)
        return reply.status == 200

    def remember(self, secret: str) -> TokenInfo:
        """`vault login`: check the typed token (or secret id, or password) against OpenBao, then keep it
        in the OS vault. Nothing is kept when OpenBao refuses it."""
        with self._lock:
            if self._credentials is None:
                raise BackendError("no OS vault to keep the credential in", hint="set BAO_TOKEN instead")
            if self._config.auth == "token":
                reply = self._http.request("GET", "/v1/auth/token/lookup-self", token=secret)
                if reply.status != 200:
                    raise BackendAuthRequired("OpenBao refused the token given", hint="check it, try again")
                self._credentials.set(self.credential_name("token"), secret)
                self._token, self._info = secret, self._info_from_lookup(reply, "token kept in the OS vault")
            else:
                self._forget_login_token()
                self._login(secret)
                self._credentials.set(self.credential_name(self._secret_kind()), secret)
            assert self._info is not None
            return self._info

    def release_thread(self) -> None:
        """A vault worker thread ends: release what the credentials' store holds for it."""
        release = getattr(self._credentials, "release_thread", None)
        if callable(release):
            release()

    def close(self) -> None:
        """Close the credentials' store."""
        close = getattr(self._credentials, "close", None)
        if callable(close):
            close()

    def forget(self) -> None:
        """`vault logout`: drop every credential kept for this configuration."""
        with self._lock:
            if self._credentials is not None:
                for kind in ("token", "login-token", "approle-secret-id", "userpass-password"):
                    self._credentials.delete(self.credential_name(kind))
            self._token, self._info = None, None

    # Loading, logging in, renewing ---------------------------------------------------------------

    def _load(self) -> None:
        if self._config.auth == "token":
            token, source = self._find_token()
            self._token = token
            self._lookup(source)
            return
        cached = self._credentials.get(self.credential_name("login-token")) if self._credentials else None
        if cached:
            self._token = cached
            try:
                self._lookup(f"{self._config.auth} login (kept token)")
                return
            except BackendAuthRequired:
                self._forget_login_token()
        self._login()

    def _find_token(self) -> tuple[str, str]:
        for name in TOKEN_ENV:
            if self._env.get(name, "").strip():
                return self._env[name].strip(), f"${name}"
        if self._credentials is not None:
            stored = self._credentials.get(self.credential_name("token"))
            if stored:
                return stored, "token kept in the OS vault"
        home = Path(self._env.get("HOME") or Path.home())
        try:
            token = (home / ".vault-token").read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            token = ""
        if token:
            return token, "~/.vault-token"
        raise BackendAuthRequired(
            "no OpenBao token: none in BAO_TOKEN or VAULT_TOKEN, none kept by `keybroker vault login`, "
            "no ~/.vault-token",
            hint="run `keybroker vault login` (the token is kept in the OS vault) or set BAO_TOKEN",
        )

    def _secret_kind(self) -> str:
        return "approle-secret-id" if self._config.auth == "approle" else "userpass-password"

    def _secret_for_login(self) -> str | None:
        if self._credentials is None:
            return None
        return self._credentials.get(self.credential_name(self._secret_kind()))

    def _forget_login_token(self) -> None:
        self._token, self._info = None, None
        if self._credentials is not None:
            self._credentials.delete(self.credential_name("login-token"))

    def _login(self, secret: str | None = None) -> None:
        config = self._config
        secret = secret or self._secret_for_login()
        if not secret:
            what = "AppRole secret id" if config.auth == "approle" else "userpass password"
            raise BackendAuthRequired(
                f"no {what} to log in to OpenBao with",
                hint="run `keybroker vault login` (it is kept in the OS vault)",
            )
        if config.auth == "approle":
            path = f"/v1/auth/{config.login_mount}/login"
            body: dict[str, Any] = {"role_id": config.role_id, "secret_id": secret}
        else:
            path = f"/v1/auth/{config.login_mount}/login/{config.username}"
            body = {"password": secret}
        reply = self._http.request("POST", path, body=body)
        auth = reply.body.get("auth")
        if reply.status != 200 or not isinstance(auth, dict) or not auth.get("client_token"):
            raise BackendAuthRequired(
                f"OpenBao refused the {config.auth} login "
                f"(HTTP {reply.status}: {reply.errors or 'no token'})",
                hint=LOGIN_HINT,
            )
        self._token = str(auth["client_token"])
        self._info = self._info_from_auth(auth, f"{config.auth} login")
        self._renewal_exhausted = False
        if self._credentials is not None:
            self._credentials.set(self.credential_name("login-token"), self._token)

    def _lookup(self, source: str) -> None:
        reply = self._http.request("GET", "/v1/auth/token/lookup-self", token=self._token)
        if reply.status != 200:
            self._token, self._info = None, None
            raise BackendAuthRequired(
                f"OpenBao refused {source} (HTTP {reply.status}: expired or revoked)", hint=LOGIN_HINT
            )
        self._info = self._info_from_lookup(reply, source)

    def _keep_alive(self) -> None:
        info = self._info
        if info is None or info.expires is None:
            return
        left = info.expires - self._clock()
        can_login = self._config.auth != "token"
        if self._renewal_exhausted or not info.renewable or left <= 0:
            # Renewing cannot help: log in again near the end (where the method can), else use it up.
            if can_login and left < max(info.period * 0.1, 1.0):
                self._login()
            elif left <= 0:
                self._token, self._info = None, None
                raise BackendAuthRequired(f"the OpenBao token ({info.source}) has expired", hint=LOGIN_HINT)
            return
        if left < info.period / 2:
            self._renew(info)

    def _renew(self, info: TokenInfo) -> None:
        increment = max(int(info.period), 1)
        reply = self._http.request(
            "POST", "/v1/auth/token/renew-self", token=self._token, body={"increment": f"{increment}s"}
        )
        auth = reply.body.get("auth")
        if reply.status != 200 or not isinstance(auth, dict):
            if reply.status == 403 and self._token is not None:
                self.refused(self._token)
            return  # not renewed now: tried again at the next call, and used until it expires
        renewed = self._info_from_auth(auth, info.source, period=info.period)
        if renewed.expires is not None and info.expires is not None and renewed.expires <= info.expires + 1:
            self._renewal_exhausted = True  # at its max TTL
        self._info = renewed

    def _info_from_auth(self, auth: Mapping[str, Any], source: str, *, period: float = 0.0) -> TokenInfo:
        lease = float(auth.get("lease_duration") or 0)
        policies = auth.get("policies") or auth.get("token_policies") or []
        meta = auth.get("metadata") or {}
        previous = self._info.display_name if self._info else ""
        name = meta.get("username") or meta.get("role_name") or previous
        return TokenInfo(
            source=source,
            display_name=str(name or self._config.auth),
            policies=tuple(str(p) for p in policies),
            expires=self._clock() + lease if lease > 0 else None,
            renewable=bool(auth.get("renewable")),
            period=period or lease,
        )

    def _info_from_lookup(self, reply: Reply, source: str) -> TokenInfo:
        data = reply.body.get("data") or {}
        ttl = float(data.get("ttl") or 0)
        expires = parse_time(data.get("expire_time")) if data.get("expire_time") else None
        if expires is None and ttl > 0:
            expires = self._clock() + ttl
        return TokenInfo(
            source=source,
            display_name=str(data.get("display_name") or ""),
            policies=tuple(str(p) for p in data.get("policies") or ()),
            expires=expires,
            renewable=bool(data.get("renewable")),
            period=float(data.get("creation_ttl") or ttl),
        )
