# SPDX-License-Identifier: Apache-2.0
"""What the bridge calls and never implements: the secrets use case, the agent directory, the caller.

Longer than 300 lines because every port the bridge depends on is declared here, in one place per layer
(docs/architecture.md), each with its contract; they are small protocols, not logic.

`SecretSource` is the broker's seam (core/broker/broker.py's `Broker` fits it structurally); tests
inject a scripted fake. `Fulfilment` is read-only here, so the broker's own frozen dataclass fits it
too. `ReleaseProbe` is optional: without it, card credentials are only obtained when the agent
refuses. `LockWatch` is optional too: without it, what the bridge remembers of released values
(released.py) is only bounded, never dropped on a lock. `ReleaseHistory` is optional: without it, the
bridge knows nothing released before it started (nor before a lock). `CallerLookup` names the calling
process (caller.py's `PEER_CALLERS`). `TokenSource` is optional too: without it, OAuth 2 / OpenID
Connect and mutual TLS schemes are not met (core/auth/signins.py's `SignIns` fits it). `AgentSignIn`
is optional: without it, an agent's own sign-in (Agent Stack's OAuth extension) is declined (`SignIns`
fits it too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from keybroker.core.models import AgentRecord, ModelDemand, SecretDemand, SecretValue

if TYPE_CHECKING:  # a2a-sdk is imported only once a bridged request needs it (app.py)
    import ssl

    from a2a.server.context import ServerCallContext

Phase = Literal["preflight", "runtime"]

#: `lookup(slug)`: the agent the user added under that slug, or None.
AgentLookup = Callable[[str], "AgentRecord | None"]


class Fulfilment(Protocol):
    """The broker's answer to a set of demands."""

    @property
    def values(self) -> Mapping[str, SecretValue]:
        """Granted values, by demand key."""
        ...

    @property
    def declined(self) -> frozenset[str]:
        """Keys the user (or a rule) declined."""
        ...

    @property
    def timed_out(self) -> bool:
        """True when the prompt went unanswered (every key not granted counts as declined)."""
        ...


class SecretSource(Protocol):
    """Fulfils an agent's secret demands: policy, prompt, vault and audit live behind it."""

    async def fulfil(
        self,
        agent: AgentRecord,
        demands: Sequence[SecretDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
        stale: Collection[str] = (),
    ) -> Fulfilment:
        """Values for `demands` (one prompt at most for all of them); never raises for a decline.

        `stale`: keys whose value the agent just refused; ask for them again even under a grant.
        """
        ...


@runtime_checkable
class ReleaseProbe(Protocol):
    """A `SecretSource` that can tell, without asking anyone, which demands it would release now."""

    def releasable(self, agent: AgentRecord, demands: Sequence[SecretDemand]) -> frozenset[str]:
        """The keys of `demands` a `fulfil` call would release without a prompt."""
        ...


@runtime_checkable
class GrantedRelease(Protocol):
    """A `SecretSource` that releases, in one call, what its grants cover without asking (the fast path)."""

    async def fulfil_if_granted(
        self,
        agent: AgentRecord,
        demands: Sequence[SecretDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
    ) -> Fulfilment | None:
        """Every value of `demands` released on a grant held now, or None: nothing released, audited or
        spent, and the full path (which may ask) takes the request."""
        ...


@runtime_checkable
class TaskWatch(Protocol):
    """A `SecretSource` that follows tasks: "this task" grants end when their task does.

    The bridge reports the ids a run learns from the agent (so grants given before the task existed
    are bound to it) and every terminal state it forwards, in 0.3 spelling (core/a2a/task_state.py).
    The broker (core/broker/broker.py) fits it structurally.
    """

    def bind_run(self, run_id: str, *, task_id: str | None = None, context_id: str | None = None) -> int:
        """The run `run_id` now knows its task and conversation ids."""
        ...

    def task_ended(
        self, agent_slug: str, task_id: str, *, state: str, run_id: str | None = None
    ) -> Sequence[object]:
        """`agent_slug`'s task ended as `state` (a terminal state's 0.3 name: `completed`, `failed`...)."""
        ...


@runtime_checkable
class LockWatch(Protocol):
    """A `SecretSource` that says when Keybroker locks (Lock now, idle lock, screen lock).

    A lock ends every grant short of *always* and drops the values held in memory: the bridge drops
    the values it remembers having released (released.py) too. The broker fits it structurally.
    """

    def on_lock(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every lock, on whichever thread locks; it must not raise or block."""
        ...


class PastReleases(Protocol):
    """What `ReleaseHistory.released_before` answers (the broker's own dataclass fits)."""

    @property
    def values(self) -> Sequence[SecretValue]:
        """Every value released to the agent before, as the vault holds it now."""
        ...

    @property
    def complete(self) -> bool:
        """False when some value released before is not among `values` (replaced, removed, unreadable)."""
        ...

    @property
    def problem(self) -> str | None:
        """Why not complete, in words (never a value)."""
        ...


@runtime_checkable
class ReleaseHistory(Protocol):
    """A `SecretSource` that can say what it released to an agent before (the audit names the secrets,
    the vault holds their values): the bridge rebuilds its memory of released values from it after a
    restart or a lock (released.py's `Recall`). The broker fits it structurally."""

    async def released_before(self, agent_slug: str, *, limit: int) -> PastReleases:
        """The values released to `agent_slug` so far (the most recent `limit`), read again."""
        ...


class CallerLookup(Protocol):
    """Names the local process calling the bridge, where the OS tells (DESIGN §4: the audit names it)."""

    def remembered(self, context: ServerCallContext) -> tuple[bool, str | None]:
        """`(True, caller)` when the answer is known without reading the OS: cheap, on the event loop."""
        ...

    def lookup(self, context: ServerCallContext) -> str | None:
        """The calling process, or None; may read the OS (the bridge calls it off the event loop)."""
        ...


class TokenSource(Protocol):
    """Sign-ins for an agent's OAuth 2 / OIDC schemes, and its client certificate (issue 13)."""

    def ready(self, agent: AgentRecord, scheme: str) -> bool:
        """True when a token can be had without asking the user (signed in, or a confidential client)."""
        ...

    async def token(
        self,
        agent: AgentRecord,
        scheme: str,
        *,
        refused: SecretValue | None = None,
        interactive: bool = False,
        reason: str = "",
        task_id: str | None = None,
        context_id: str | None = None,
        caller: str | None = None,
    ) -> SecretValue | None:
        """An access token for `agent`'s `scheme` (refreshed when near its end, or when `refused` is
        the one the agent just refused); `interactive`: the user may be asked to sign in. None when
        there is none; never raises for a declined or failed sign-in."""
        ...

    async def client_tls(self, agent: AgentRecord) -> ssl.SSLContext | None:
        """The TLS context presenting `agent`'s client certificate (and trusting its pinned CA), or None."""
        ...


@runtime_checkable
class AgentSignIn(Protocol):
    """The user's part of a sign-in an agent runs itself (Agent Stack's OAuth extension, oauth_flow.py)."""

    async def agent_sign_in(
        self,
        agent: AgentRecord,
        url: SecretValue,
        arm: Callable[[], Awaitable[SecretValue]],
        *,
        task_id: str | None = None,
        context_id: str | None = None,
        caller: str | None = None,
    ) -> SecretValue | None:
        """Ask the user, open the browser at `url` after calling `arm()` (which starts waiting for the
        redirect), and return the redirect's full URL; None when declined, refused or timed out.
        Audited; never raises for a declined sign-in."""
        ...


# Model access (issue 14): core/llm/access.py's `ModelAccess` fits these structurally ------------------

#: Where the bridge serves the model gateway (gateway.py): `/models/<slug>/v1/...`. Here, not in
#: model_flow.py, so app.py can route to it without loading a2a-sdk.
GATEWAY_PREFIX = "/models/"


class ReleasedModel(Protocol):
    """One model demand fulfilled: the gateway (`gateway`, with a token as `api_key`) or a handover."""

    @property
    def demand(self) -> ModelDemand: ...
    @property
    def provider(self) -> str: ...
    @property
    def api_model(self) -> str: ...
    @property
    def identifier(self) -> str: ...
    @property
    def api_key(self) -> SecretValue: ...
    @property
    def gateway(self) -> bool: ...
    @property
    def api_base(self) -> str | None: ...


class ModelFulfilment(Protocol):
    """Per demand ref (`llm:default`), the model released; the refs declined."""

    @property
    def releases(self) -> Mapping[str, ReleasedModel]: ...
    @property
    def declined(self) -> frozenset[str]: ...


class ModelRoute(Protocol):
    """Where one gateway request goes."""

    @property
    def agent(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def key_account(self) -> str | None: ...


class ModelSource(Protocol):
    """Answers agents' model demands and serves the model gateway (policy, prompt, keys, usage)."""

    async def fulfil_models(
        self,
        agent: AgentRecord,
        demands: Sequence[ModelDemand],
        *,
        phase: Phase,
        task_id: str | None,
        context_id: str | None,
        run_id: str | None = None,
        caller: str | None = None,
    ) -> ModelFulfilment:
        """A model for each demand (one prompt at most for all of them); never raises for a decline."""
        ...

    def route(self, token: str, slug: str) -> ModelRoute | None:
        """Where a gateway request with `token` for agent `slug` goes; None for a dead or foreign one."""
        ...

    async def key_for(self, route: ModelRoute) -> SecretValue | None:
        """The provider's key (None for a provider without one)."""
        ...

    def budget_refusal(self, agent: str) -> str | None:
        """Why the agent may make no more model requests today, or None."""
        ...

    def record(self, route: ModelRoute, status: int, usage: object) -> None:
        """Count one forwarded request; `usage` is the answer's OpenAI `usage` object, if any."""
        ...

    def bind_run(self, run_id: str, *, task_id: str | None = None, context_id: str | None = None) -> int:
        """The run's tokens now belong to its task."""
        ...

    def task_ended(
        self, agent_slug: str, task_id: str, *, state: str, run_id: str | None = None
    ) -> Sequence[object]:
        """The task's tokens end."""
        ...
