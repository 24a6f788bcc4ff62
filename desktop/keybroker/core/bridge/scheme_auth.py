# SPDX-License-Identifier: Apache-2.0
"""Which card credentials to send an agent, obtained through the secret source (DESIGN §1, §4).

For the card's requirements the bridge can meet (credentials.py `alternatives`, an OR of ANDs):
- `at_hand`: the first alternative whose values are all released without asking anyone (stored and
  granted, e.g. `secrets set KEY --agent S --scheme NAME`). Asking needs a `ReleaseProbe`; without
  one nothing is at hand. No prompt: an agent that declares a scheme it does not enforce never
  bothers the user;
- `refresh`: the agent refused (HTTP 401; or, A2X's way, `auth-required` without a secret demand
  on a send and JSON-RPC `-32600` on other calls, PROTOCOL pitfall 28): ask for the alternative that
  was sent again, even under an *always* grant since the stored value may be stale (the broker
  audits the refusal), or for the first alternative when nothing was sent. The caller re-sends the
  original request once with what comes back, as A2X's client does.
Each scheme is one `SecretDemand` (key and scheme = the scheme's name), so values are granted,
prompted for, stored and audited like any demand.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from keybroker.core.a2a.credentials import Credentials, alternatives, build_credentials, scheme_demand
from keybroker.core.bridge.ports import Phase, ReleaseProbe, SecretSource
from keybroker.core.errors import AuditWriteError, KeybrokerError
from keybroker.core.models import AgentRecord, SecurityScheme

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

    def __init__(self, agent: AgentRecord, secrets: SecretSource, *, enabled: bool = True) -> None:
        """`enabled` False (the agent cannot be sent secrets safely): never any credentials."""
        self._agent = agent
        self._secrets = secrets
        self.alternatives: tuple[tuple[SecurityScheme, ...], ...] = alternatives(agent) if enabled else ()

    @property
    def active(self) -> bool:
        """True when the card has a requirement the bridge can meet."""
        return bool(self.alternatives)

    async def at_hand(self, call: AuthCall) -> Credentials | None:
        """The first alternative whose values are all granted already; None when there is none."""
        if not self.alternatives or not isinstance(self._secrets, ReleaseProbe):
            return None
        for schemes in self.alternatives:
            demands = [scheme_demand(s) for s in schemes]
            try:
                ready = self._secrets.releasable(self._agent, demands)
            except KeybrokerError as exc:
                log.warning("agent %r: cannot check its credentials: %s", self._agent.slug, exc.message)
                return None
            if ready >= {d.key for d in demands}:
                found = await self._fulfil(schemes, call, stale=False)
                if found is not None:
                    return found
        return None

    async def refresh(self, used: Credentials | None, call: AuthCall) -> Credentials | None:
        """Ask again for what the agent refused (see the module docstring); None when not granted."""
        if not self.alternatives:
            return None
        schemes = used.schemes if used is not None else self.alternatives[0]
        return await self._fulfil(schemes, call, stale=True)

    async def _fulfil(
        self, schemes: Sequence[SecurityScheme], call: AuthCall, *, stale: bool
    ) -> Credentials | None:
        demands = [scheme_demand(s) for s in schemes]
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
        return build_credentials(schemes, answer.values)
