# SPDX-License-Identifier: Apache-2.0
"""`keybroker agents push-secrets S`: the client side of the Agent Protocol secrets API.

For an agent that serves the API itself, at `<agent base URL>/ap/v1/agent/secrets` (Agent Protocol
RFC "Secrets Management", 2024-02-05):
1. send (POST) every plain secret the agent holds a live *always* grant for on its current card: the
   ones it owns (`secrets set --agent S`, the AP API's POST) and the shared or other agents' values
   the user allowed it for good. Its own value wins over another with the same key. Each push is
   audited `released` and recorded in the catalog (`ap_pushes`);
2. list (GET) what the agent then reports, matched by `secret_key`;
3. delete (DELETE) there only keys that were pushed by this command before and were revoked here
   since (the secret deleted, or no *always* grant left): audited `revoked`, record dropped. Keys
   the agent has from elsewhere are left alone, and so are keys whose grant is only suspended
   because the agent's card changed (confirm the grant, then push again).

Values are never sent in clear to a host that is not loopback (policy), never follow a redirect,
and never appear in an error: the agent's answers are reported by status code only. The card's
own security credentials (API key, bearer token) go along when they are stored and granted
(`secrets set KEY --agent S --scheme NAME`); nothing is asked for here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from keybroker.core.a2a.credentials import Credentials, alternatives, build_credentials
from keybroker.core.broker.policy import Allow, ReleaseRequest, decide, scheme_key
from keybroker.core.broker.transport import insecure_transport_reason
from keybroker.core.catalog.catalog import ApPush
from keybroker.core.errors import AgentUnreachable, BridgeError, PolicyDenied
from keybroker.core.models import AgentRecord, AuditDecision, GrantScope, SecretRecord, SecretValue
from keybroker.core.ports import Stores

__all__ = ["AP_SECRETS_PATH", "PushReport", "ap_secrets_url", "push_secrets", "pushable_secrets"]

log = logging.getLogger("keybroker.ap_push")

AP_SECRETS_PATH = "/ap/v1/agent/secrets"
_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True)
class PushReport:
    """What one push did (keys only, never a value)."""

    agent: str
    url: str
    pushed: tuple[str, ...]
    deleted: tuple[str, ...]
    remote: tuple[str, ...]
    """The keys the agent reports after the push and the deletions."""
    skipped: tuple[tuple[str, str], ...] = field(default=())
    """(key, why) of values not pushed."""

    def to_json(self) -> dict[str, Any]:
        """The `--json` shape."""
        return {
            "agent": self.agent,
            "url": self.url,
            "pushed": list(self.pushed),
            "deleted": list(self.deleted),
            "remote": list(self.remote),
            "skipped": [{"key": k, "reason": r} for k, r in self.skipped],
        }


def ap_secrets_url(agent: AgentRecord) -> str:
    """Where the agent serves its AP secrets API: `<base URL>/ap/v1/agent/secrets`."""
    return agent.url.rstrip("/") + AP_SECRETS_PATH


def pushable_secrets(svc: Stores, agent: AgentRecord) -> tuple[list[SecretRecord], list[tuple[str, str]]]:
    """(what to push, (key, why) of what is held back) for `agent`, by key."""
    always = [g for g in svc.catalog.list_grants(agent=agent.slug) if g.scope is GrantScope.ALWAYS]
    current = {g.secret_id for g in always if g.card_fingerprint == agent.fingerprint}
    suspended = {g.secret_id for g in always} - current
    chosen: dict[str, SecretRecord] = {}
    held: dict[str, str] = {}
    for record in svc.catalog.list_secrets():
        if record.scheme is not None:
            continue  # a card credential, not a secret for the agent to use
        if record.secret_id in current:
            mine = chosen.get(record.key)
            if mine is None or (record.owner == agent.slug and mine.owner != agent.slug):
                chosen[record.key] = record
        elif record.secret_id in suspended:
            held.setdefault(record.key, "the agent's card changed since the grant: confirm it first")
    skipped = [(k, why) for k, why in sorted(held.items()) if k not in chosen]
    return [chosen[k] for k in sorted(chosen)], skipped


def _credentials(svc: Stores, agent: AgentRecord, caller: str) -> Credentials | None:
    """The card credentials at hand (stored and granted), for the agent's own AP API; never asked for."""
    secrets = svc.catalog.list_secrets()
    grants = svc.catalog.list_grants(agent=agent.slug)
    now = svc.catalog.clock.now()
    for schemes in alternatives(agent):
        values: dict[str, SecretValue] = {}
        released: list[SecretRecord] = []
        for scheme in schemes:
            key = scheme_key(agent.slug, scheme.name, secrets) or scheme.name
            request = ReleaseRequest(agent=agent, key=key, scheme=scheme.name)
            decision = decide(request, [r for r in secrets if r.key == key], grants, now)
            value = svc.vault.get(decision.secret.secret_id) if isinstance(decision, Allow) else None
            if not isinstance(decision, Allow) or decision.consume or value is None:
                break
            values[scheme.name] = value
            released.append(decision.secret)
        found = build_credentials(schemes, values) if len(values) == len(schemes) else None
        if found is not None:
            for record in released:  # audited before they are used
                svc.audit.append(
                    AuditDecision.RELEASED,
                    agent=agent.slug,
                    key=record.key,
                    secret_id=record.secret_id,
                    scope=GrantScope.ALWAYS.value,
                    caller=caller,
                    detail="push-secrets: credential for the agent's AP secrets API",
                )
                svc.catalog.record_use(record.secret_id)
            return found
    return None


class _Remote:
    """The agent's AP secrets API over one httpx client, with the card credentials applied."""

    def __init__(self, client: httpx.Client, agent: AgentRecord, credentials: Credentials | None) -> None:
        self.client = client
        self.agent = agent
        self.url = ap_secrets_url(agent)
        self.credentials = credentials

    def _send(self, method: str, url: str, json: Mapping[str, str] | None = None) -> httpx.Response:
        request = self.client.build_request(method, url, json=json)
        if self.credentials is not None:
            request = self.credentials.apply(request)
        try:
            return self.client.send(request)
        except httpx.HTTPError as exc:  # the message could name a URL carrying a query-string key
            raise AgentUnreachable(
                f"cannot reach the AP secrets API of agent {self.agent.slug!r} at {self.url} "
                f"({type(exc).__name__})",
                hint="is the agent running?",
            ) from None

    def _failed(self, what: str, response: httpx.Response) -> BridgeError:
        status = response.status_code
        hint = {
            401: "it wants credentials: `keybroker secrets set NAME --agent S --scheme NAME`",
            404: f"does the agent serve the Agent Protocol secrets API at {AP_SECRETS_PATH}?",
            405: f"does the agent serve the Agent Protocol secrets API at {AP_SECRETS_PATH}?",
        }.get(status)
        return BridgeError(f"agent {self.agent.slug!r} answered HTTP {status} to {what}", hint=hint)

    def add(self, key: str, value: SecretValue) -> str | None:
        """POST one secret; the agent's secret_id for it, when it says."""
        response = self._send("POST", self.url, {"secret_key": key, "secret_value": value.reveal()})
        if not response.is_success:
            raise self._failed(f"adding {key!r}", response)
        body = _json(response)
        remote_id = body.get("secret_id") if isinstance(body, dict) else None
        return remote_id if isinstance(remote_id, str) and remote_id else None

    def listed(self) -> dict[str, str]:
        """GET the agent's keys: secret_key -> secret_id."""
        response = self._send("GET", self.url)
        if not response.is_success:
            raise self._failed("listing its secrets", response)
        body = _json(response)
        items = body.get("secrets") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BridgeError(f"agent {self.agent.slug!r} listed its secrets in an unknown shape")
        found: dict[str, str] = {}
        for item in items:
            if isinstance(item, dict):
                key, remote_id = item.get("secret_key"), item.get("secret_id")
                if isinstance(key, str) and isinstance(remote_id, str):
                    found[key] = remote_id
        return found

    def delete(self, key: str, remote_id: str) -> None:
        """DELETE one secret there (already gone counts as deleted)."""
        response = self._send("DELETE", f"{self.url}/{quote(remote_id, safe='')}")
        if not response.is_success and response.status_code != 404:
            raise self._failed(f"deleting {key!r}", response)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def push_secrets(svc: Stores, slug: str, *, caller: str, client: httpx.Client | None = None) -> PushReport:
    """Push, list, delete the revoked (see the module docstring). Blocking: call it off the loop."""
    agent = svc.catalog.get_agent(slug)
    url = ap_secrets_url(agent)
    problem = insecure_transport_reason(url)
    if problem is not None:
        raise PolicyDenied(f"secrets for {slug} were not pushed: {problem}")
    records, skipped = pushable_secrets(svc, agent)
    owned_client = client is None
    http = client or httpx.Client(trust_env=False, follow_redirects=False, timeout=_TIMEOUT)
    try:
        remote = _Remote(http, agent, _credentials(svc, agent, caller))
        if records:
            # The agent answers, and takes the credentials, before a value is audited and sent: a
            # refused or unreachable agent costs no `released` event for a value that never left.
            remote.listed()
        pushed: list[str] = []
        for record in records:
            value = svc.vault.get(record.secret_id)
            if value is None:
                skipped.append((record.key, "the vault holds no value for it"))
                continue
            # Audited (on the disk) before the value leaves: a full disk stops the push here.
            svc.audit.append(
                AuditDecision.RELEASED,
                agent=slug,
                key=record.key,
                secret_id=record.secret_id,
                scope=GrantScope.ALWAYS.value,
                caller=caller,
                detail=f"pushed to the agent's AP secrets API at {url}",
            )
            remote_id = remote.add(record.key, value)
            now = svc.catalog.clock.now()
            svc.catalog.record_push(ApPush(slug, record.key, record.secret_id, remote_id, now))
            svc.catalog.record_use(record.secret_id, now)
            pushed.append(record.key)
        listed = remote.listed()
        deleted = _delete_revoked(svc, remote, listed, {r.key for r in records}, skipped, caller)
    finally:
        if owned_client:
            http.close()
    remaining = tuple(sorted(k for k in listed if k not in deleted))
    log.info("pushed %d secret(s) to %s, deleted %d there", len(pushed), slug, len(deleted))
    return PushReport(slug, url, tuple(pushed), tuple(deleted), remaining, tuple(sorted(skipped)))


def _delete_revoked(
    svc: Stores,
    remote: _Remote,
    listed: Mapping[str, str],
    still: set[str],
    skipped: list[tuple[str, str]],
    caller: str,
) -> list[str]:
    """Delete at the agent the keys pushed before and revoked here since; drop their records."""
    slug = remote.agent.slug
    held = {key for key, _ in skipped}
    deleted: list[str] = []
    for push in svc.catalog.list_pushes(slug):
        if push.key in still or push.key in held:
            continue
        remote_id = listed.get(push.key)
        if remote_id is not None:
            remote.delete(push.key, remote_id)
            deleted.append(push.key)
            svc.audit.append(
                AuditDecision.REVOKED,
                agent=slug,
                key=push.key,
                secret_id=push.secret_id,
                caller=caller,
                detail=f"deleted from the agent's AP secrets API at {remote.url}: revoked here",
            )
        svc.catalog.forget_push(slug, push.key)
    return deleted
