# SPDX-License-Identifier: Apache-2.0
"""The CLI's client for a running instance's management API (`/api/v1`).

Longer than 300 lines because it is one method per endpoint, each a few lines; splitting it by
endpoint family would scatter one small idea.

While an instance runs, commands that change state go through it, so the tray and the CLI never
disagree (INTERFACES.md). Each method is one endpoint and answers its JSON (the shapes of
`/openapi.json`, which are the CLI's `--json` shapes). A server error comes back as the same
`KeybrokerError` subclass the server raised, with its message and hint (api_errors.py), so the CLI
exits with the same code; an instance that does not answer raises `InstanceUnreachable` (exit 6).

    client = ApiClient.for_instance(paths)   # None when no instance runs
    if client is not None:
        with client:
            client.secret_set("GITHUB_TOKEN", value, owner="demo")

Light on purpose: httpx and the error tree only (no FastAPI, no pydantic), so forwarding a command
costs little start-up time. No proxy ever sees the traffic (`trust_env=False`), no redirect is followed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from keybroker import __version__
from keybroker.cli.api_errors import error_from
from keybroker.core.errors import BridgeError
from keybroker.core.models import SecretValue
from keybroker.system.instance import read_instance
from keybroker.system.paths import Paths

__all__ = ["API_PREFIX", "ApiClient", "InstanceUnreachable", "JsonObject"]

API_PREFIX = "/api/v1"
JsonObject = dict[str, Any]

#: A card fetch takes up to 10 s and a locked vault may show its unlock prompt (up to 120 s).
DEFAULT_TIMEOUT = httpx.Timeout(150.0, connect=5.0, pool=5.0)


class InstanceUnreachable(BridgeError):
    """The running instance did not answer (exit 6)."""


def _segment(text: str) -> str:
    """One path segment: `/` and `.` escaped too, so a key like `a/..` stays one segment."""
    return quote(text, safe="").replace(".", "%2E")


def _params(**given: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in given.items():
        if value is None or value is False:
            continue
        out[name] = "true" if value is True else value
    return out


class ApiClient:
    """One method per endpoint of `/api/v1`."""

    def __init__(
        self,
        base_url: str,
        token: SecretValue,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": f"keybroker-cli/{__version__}", "Accept": "application/json"},
        )

    @classmethod
    def for_instance(cls, paths: Paths, **kwargs: Any) -> ApiClient | None:
        """A client for the running instance (`instance.json`), or None when none runs or its bridge,
        which serves the API, is paused or stopped."""
        instance = read_instance(paths)
        if instance is None or not instance.listening:
            return None
        try:
            token = paths.token_file.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InstanceUnreachable(
                f"an instance runs (pid {instance.pid}) but its API token cannot be read from "
                f"{paths.token_file}: {getattr(exc, 'strerror', None) or type(exc).__name__}",
                hint="`keybroker token` writes it again",
            ) from None
        if not token:
            raise InstanceUnreachable(
                f"the API token file {paths.token_file} is empty", hint="`keybroker token` writes it again"
            )
        return cls(instance.url, SecretValue(token), **kwargs)

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # plumbing ---------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        extra: dict[str, Any] = {} if timeout is None else {"timeout": httpx.Timeout(timeout, connect=5.0)}
        try:
            response = self._http.request(
                method, API_PREFIX + path, params=params, json=json, headers=headers, **extra
            )
        except httpx.TimeoutException:
            raise InstanceUnreachable(
                f"the instance at {self.base_url} did not answer in time",
                hint="`keybroker status` shows whether it runs",
            ) from None
        except httpx.TransportError as exc:
            raise InstanceUnreachable(
                f"cannot reach the instance at {self.base_url} ({type(exc).__name__})",
                hint="`keybroker status` shows whether it runs",
            ) from None
        if response.status_code >= 400:
            raise error_from(response)
        if not response.is_success:  # a redirect: never followed (no value may go elsewhere)
            raise BridgeError(f"the instance answered {method} {path} with HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise BridgeError(
                f"the instance answered {method} {path} with something other than JSON"
            ) from None

    # status -----------------------------------------------------------------------------------

    def status(self) -> JsonObject:
        """`GET /status`: pid, port, URL, vault, counts, pending prompts."""
        out: JsonObject = self._call("GET", "/status")
        return out

    def prompts(self, *, agent: str | None = None) -> list[JsonObject]:
        """`GET /prompts`: prompts waiting for the user (who asks, which keys, until when)."""
        out: list[JsonObject] = self._call("GET", "/prompts", params=_params(agent=agent))
        return out

    # agents -----------------------------------------------------------------------------------

    def agents_list(self) -> list[JsonObject]:
        """`GET /agents`."""
        out: list[JsonObject] = self._call("GET", "/agents")
        return out

    def agent_add(
        self,
        url: str,
        *,
        slug: str | None = None,
        require_token: bool = False,
        bridge_port: int | None = None,
    ) -> JsonObject:
        """`POST /agents`: the instance fetches the card."""
        body: JsonObject = {"url": url, "require_token": require_token}
        if slug is not None:
            body["slug"] = slug
        if bridge_port is not None:
            body["bridge_port"] = bridge_port
        out: JsonObject = self._call("POST", "/agents", json=body)
        return out

    def agent_patch(self, slug: str, *, bridge_port: int | None) -> JsonObject:
        """`PATCH /agents/{slug}`: set (or, with None, remove) the agent's own port."""
        out: JsonObject = self._call("PATCH", f"/agents/{_segment(slug)}", json={"bridge_port": bridge_port})
        return out

    def agent_show(self, slug: str) -> JsonObject:
        """`GET /agents/{slug}`."""
        out: JsonObject = self._call("GET", f"/agents/{_segment(slug)}")
        return out

    def agent_refresh(self, slug: str) -> JsonObject:
        """`POST /agents/{slug}/refresh`: the agent plus `changed` and `previous_fingerprint`."""
        out: JsonObject = self._call("POST", f"/agents/{_segment(slug)}/refresh")
        return out

    def agent_remove(self, slug: str, *, purge: bool = False) -> JsonObject:
        """`DELETE /agents/{slug}`: `{slug, secrets_deleted, secrets_kept}`."""
        out: JsonObject = self._call("DELETE", f"/agents/{_segment(slug)}", params=_params(purge=purge))
        return out

    # secrets ----------------------------------------------------------------------------------

    def secrets_list(self, *, owner: str | None = None, shared: bool = False) -> list[JsonObject]:
        """`GET /secrets`: every record, or one owner's (`shared=True`: the shared ones)."""
        out: list[JsonObject] = self._call("GET", "/secrets", params=_params(owner=owner, shared=shared))
        return out

    def secret_show(
        self,
        key_or_id: str,
        *,
        owner: str | None = None,
        shared: bool = False,
        scheme: str | None = None,
        team: str | None = None,
    ) -> JsonObject:
        """`GET /secrets/{key_or_id}`: metadata and live grants, never the value."""
        out: JsonObject = self._call(
            "GET",
            f"/secrets/{_segment(key_or_id)}",
            params=_params(owner=owner, shared=shared, scheme=scheme, team=team),
        )
        return out

    def secret_set(
        self,
        key: str,
        value: SecretValue,
        *,
        owner: str | None = None,
        scheme: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> JsonObject:
        """`PUT /secrets`: create or replace; `{created, secret}`. `owner` None means shared."""
        body: JsonObject = {"key": key, "value": value.reveal()}
        for field, given in (
            ("owner", owner),
            ("scheme", scheme),
            ("name", name),
            ("description", description),
        ):
            if given is not None:
                body[field] = given
        out: JsonObject = self._call("PUT", "/secrets", json=body)
        return out

    def secret_update(
        self,
        key_or_id: str,
        *,
        owner: str | None = None,
        shared: bool = False,
        scheme: str | None = None,
        name: str | None = None,
        description: str | None = None,
        value: SecretValue | None = None,
    ) -> JsonObject:
        """`PATCH /secrets/{key_or_id}`: the updated record."""
        body: JsonObject = {}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if value is not None:
            body["value"] = value.reveal()
        out: JsonObject = self._call(
            "PATCH",
            f"/secrets/{_segment(key_or_id)}",
            params=_params(owner=owner, shared=shared, scheme=scheme),
            json=body,
        )
        return out

    def secret_remove(
        self, key_or_id: str, *, owner: str | None = None, shared: bool = False, scheme: str | None = None
    ) -> JsonObject:
        """`DELETE /secrets/{key_or_id}`: the record deleted."""
        out: JsonObject = self._call(
            "DELETE",
            f"/secrets/{_segment(key_or_id)}",
            params=_params(owner=owner, shared=shared, scheme=scheme),
        )
        return out

    def secret_history(self, key_or_id: str, *, team: str | None = None, **whose: Any) -> JsonObject:
        """`GET /versions/{key_or_id}`: the secret and the versions its value has in a team vault."""
        out: JsonObject = self._call(
            "GET", f"/versions/{_segment(key_or_id)}", params=_params(team=team, **whose)
        )
        return out

    def secret_restore(
        self, key_or_id: str, version: int, *, team: str | None = None, **whose: Any
    ) -> JsonObject:
        """`POST /versions/{key_or_id}`: make `version` the current value; the record after it."""
        out: JsonObject = self._call(
            "POST",
            f"/versions/{_segment(key_or_id)}",
            params=_params(team=team, **whose),
            json={"version": version},
        )
        return out

    def teams_sync(self) -> JsonObject:
        """`POST /teams/sync`: `{added, removed, problems}`."""
        out: JsonObject = self._call("POST", "/teams/sync")
        return out

    # grants, lock, audit ----------------------------------------------------------------------

    def grants_list(self, *, agent: str | None = None) -> list[JsonObject]:
        """`GET /grants`: live grants with their secret's key and owner."""
        out: list[JsonObject] = self._call("GET", "/grants", params=_params(agent=agent))
        return out

    def grant_revoke(self, grant_id: str) -> JsonObject:
        """`DELETE /grants/{grant_id}`: the grant ended."""
        out: JsonObject = self._call("DELETE", f"/grants/{_segment(grant_id)}")
        return out

    def lock(self) -> JsonObject:
        """`POST /lock`: `{ended, grant_ids}`."""
        out: JsonObject = self._call("POST", "/lock")
        return out

    def audit_events(
        self,
        *,
        agent: str | None = None,
        since: float | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[JsonObject]:
        """`GET /audit`: events oldest first; `since` in epoch seconds (the CLI parses `2h` etc.)."""
        out: list[JsonObject] = self._call(
            "GET", "/audit", params=_params(agent=agent, since=since, search=search, limit=limit)
        )
        return out

    def audit_verify(self) -> JsonObject:
        """`GET /audit/verify`: `{ok, count, head, problems, warnings}` (the caller exits 7 on not ok)."""
        out: JsonObject = self._call("GET", "/audit/verify")
        return out

    # sign-ins (issue 13) ----------------------------------------------------------------------

    def auth_client(
        self,
        slug: str,
        scheme: str,
        client_id: str,
        secret: SecretValue | None,
        *,
        redirect_uri: str | None = None,
    ) -> JsonObject:
        """`PUT /auth/{slug}/{scheme}/client`: a secret makes the client confidential, None public."""
        body: JsonObject = {"client_id": client_id}
        if secret is None:
            body["public"] = True
        else:
            body["client_secret"] = secret.reveal()
        if redirect_uri is not None:
            body["redirect_uri"] = redirect_uri
        out: JsonObject = self._call("PUT", f"/auth/{_segment(slug)}/{_segment(scheme)}/client", json=body)
        return out

    def auth_login(self, slug: str, scheme: str, flow: str | None, *, timeout: float) -> JsonObject:
        """`POST /auth/{slug}/{scheme}/login`: answers when the instance's sign-in has ended."""
        body: JsonObject = {} if flow is None else {"flow": flow}
        out: JsonObject = self._call(
            "POST", f"/auth/{_segment(slug)}/{_segment(scheme)}/login", json=body, timeout=timeout
        )
        return out

    def auth_logout(self, slug: str, scheme: str) -> JsonObject:
        """`DELETE /auth/{slug}/{scheme}`: revoked where offered, then forgotten."""
        out: JsonObject = self._call("DELETE", f"/auth/{_segment(slug)}/{_segment(scheme)}")
        return out

    def auth_certificate(self, slug: str, scheme: str, body: JsonObject) -> JsonObject:
        """`PUT /auth/{slug}/{scheme}/certificate`: PEM text or base64 PKCS#12 (+ `password`, `ca_pem`)."""
        out: JsonObject = self._call(
            "PUT", f"/auth/{_segment(slug)}/{_segment(scheme)}/certificate", json=body
        )
        return out
