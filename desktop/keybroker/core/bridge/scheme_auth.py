# SPDX-License-Identifier: Apache-2.0
"""Which card credentials to send an agent, obtained through the bridge's ports (DESIGN §1, §4).

For the card's requirements the bridge can meet (credentials.py `alternatives`, an OR of ANDs):
- `at_hand`: the first alternative whose credentials are all had without asking anyone: values
  stored and granted (e.g. `secrets set KEY --agent S --scheme NAME`; asking needs a
  `ReleaseProbe`), OAuth 2 / OIDC tokens held or fetched by a confidential client, a client
  certificate imported (a `TokenSource`). No prompt: an agent that declares a scheme it does not
  enforce never bothers the user;
- `refresh`: the agent refused (HTTP 401; or, A2X's way, `auth-required` without a secret demand
  on a send and JSON-RPC `-32600` on other calls, PROTOCOL pitfall 28): ask for the alternative that
  was sent again, even under an *always* grant since the stored value may be stale (the broker
  audits the refusal), and refresh its tokens (or sign the user in again when no refresh works);
  or the first alternative when nothing was sent. The caller re-sends the original request once
  with what comes back, as A2X's client does.
Each value scheme is one `SecretDemand` (key and scheme = the scheme's name), so values are granted,
prompted for, stored and audited like any demand. Tokens come from the `TokenSource`, which signs in,
refreshes and audits; the bridge never learns where they came from.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from keybroker.core.a2a.credentials import Credentials, alternatives, build_credentials, scheme_demand
from keybroker.core.agents.schemes import credential_kind
from keybroker.core.bridge.ports import Phase, ReleaseProbe, SecretSource, TokenSource
from keybroker.core.errors import AuditWriteError, KeybrokerError
from keybroker.core.models import AgentRecord, SecretValue, SecurityScheme

__all__ = ["AuthCall", "SchemeAuth"]

log = logging.getLogger("keybroker.bridge")


@dataclass(frozen=True)
class AuthCall:
    """Where credentials are wanted: the run's phase and ids, and who calls (looked up lazily)."""

    phase: Phase
    task_id: str | None
    context_id: str | None
    run_id: str | None
    caller: Callable[[], Awaitable[str | None]]


class SchemeAuth:
    """Credentials for one agent's card security (see the module docstring)."""

    def __init__(
        self,
        agent: AgentRecord,
        secrets: SecretSource,
        *,
        enabled: bool = True,
        tokens: TokenSource | None = None,
        tls_presented: bool = False,
    ) -> None:
        """`enabled` False (the agent cannot be sent secrets safely): never any credentials.
        `tokens`: where OAuth 2 / OIDC tokens come from (none: such schemes are not met);
        `tls_presented`: the agent's pool presents a client certificate (mutual TLS schemes are met)."""
        self._agent = agent
        self._secrets = secrets
        self._tokens = tokens
        self._tls = tls_presented
        self.alternatives: tuple[tuple[SecurityScheme, ...], ...] = (
            alternatives(agent, self._usable) if enabled else ()
        )

    def _usable(self, scheme: SecurityScheme) -> bool:
        kind = credential_kind(scheme)
        return (
            kind == "value"
            or (kind == "token" and self._tokens is not None)
            or (kind == "certificate" and self._tls)
        )

    @property
    def active(self) -> bool:
        """True when the card has a requirement the bridge can meet."""
        return bool(self.alternatives)

    async def at_hand(self, call: AuthCall) -> Credentials | None:
        """The first alternative whose credentials are all had without asking; None when there is none."""
        for schemes in self.alternatives:
            values = [s for s in schemes if credential_kind(s) == "value"]
            tokens = [s for s in schemes if credential_kind(s) == "token"]
            if values:
                if not isinstance(self._secrets, ReleaseProbe):
                    continue
                demands = [scheme_demand(s) for s in values]
                try:
                    ready = self._secrets.releasable(self._agent, demands)
                except KeybrokerError as exc:
                    log.warning("agent %r: cannot check its credentials: %s", self._agent.slug, exc.message)
                    return None
                if not ready >= {d.key for d in demands}:
                    continue
            if tokens and not all(
                self._tokens is not None and self._tokens.ready(self._agent, s.name) for s in tokens
            ):
                continue
            found = await self._fulfil(schemes, call, stale=False, used=None)
            if found is not None:
                return found
        return None

    async def refresh(self, used: Credentials | None, call: AuthCall) -> Credentials | None:
        """Ask again for what the agent refused (see the module docstring); None when not granted."""
        if not self.alternatives:
            return None
        schemes = used.schemes if used is not None else self.alternatives[0]
        return await self._fulfil(schemes, call, stale=True, used=used)

    async def _fulfil(
        self, schemes: Sequence[SecurityScheme], call: AuthCall, *, stale: bool, used: Credentials | None
    ) -> Credentials | None:
        found: dict[str, SecretValue] = {}
        values = [s for s in schemes if credential_kind(s) == "value"]
        if values:
            demands = [scheme_demand(s) for s in values]
            try:
                answer = await self._secrets.fulfil(
                    self._agent,
                    demands,
                    phase=call.phase,
                    task_id=call.task_id,
                    context_id=call.context_id,
                    run_id=call.run_id,
                    caller=await call.caller(),
                    stale=[d.key for d in demands] if stale else (),
                )
            except AuditWriteError:
                raise  # nothing was released because it could not be audited: the client must hear it
            except KeybrokerError as exc:
                log.warning("agent %r: credentials not obtained: %s", self._agent.slug, exc.message)
                return None
            found.update(answer.values)
        for scheme in (s for s in schemes if credential_kind(s) == "token"):
            if self._tokens is None:
                return None
            token = await self._tokens.token(
                self._agent,
                scheme.name,
                refused=used.value_of(scheme.name) if used is not None and stale else None,
                interactive=stale,
                reason="the agent refused its credentials"
                if used is not None
                else "the agent asks for a sign-in",
                task_id=call.task_id,
                context_id=call.context_id,
                caller=await call.caller(),
            )
            if token is None:
                return None
            found[scheme.name] = token
        return build_credentials(schemes, found)
