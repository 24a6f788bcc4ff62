# SPDX-License-Identifier: Apache-2.0
"""An agent that failed the bridge, told to the client as a gateway tells it: HTTP 502 and 504 on REST.

`upstream_error(exc, slug)` turns whatever an upstream exchange raised into a clean A2A error naming
the agent, never a traceback and never upstream text carrying a value the bridge injected.

a2a-sdk answers every `InternalError` with HTTP 500 on its REST binding, which tells a client the
bridge is broken when it is the agent behind it that is down. These are `InternalError`s (JSON-RPC
-32603, as before, in both versions), registered in a2a-sdk's error table so its REST routes answer:
- `AgentUnreachableError`: 502 `UNAVAILABLE` (reason `AGENT_UNREACHABLE`): the agent did not answer at
  all, closed the connection mid-answer, or answered with an HTTP error;
- `AgentTimeoutError`: 504 `DEADLINE_EXCEEDED` (reason `AGENT_TIMEOUT`): it did not answer in time.
The table is a2a-sdk's module-level registry (`A2A_ERROR_MAPPING`, looked up by exact type, and its
reasons); registering is idempotent and done when this module is imported.
"""

from __future__ import annotations

from collections.abc import Collection

import httpx
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.utils import errors as a2a_errors
from a2a.utils.errors import (
    A2AError,
    ErrorMapping,
    InternalError,
    InvalidAgentResponseError,
    InvalidRequestError,
)

from keybroker.core.bridge.cutting import scrub_text

__all__ = ["AgentTimeoutError", "AgentUnreachableError", "is_unauthorized", "unreachable", "upstream_error"]


class AgentUnreachableError(InternalError):
    """The agent behind the bridge could not be reached, or failed mid-answer (REST: 502)."""


class AgentTimeoutError(InternalError):
    """The agent behind the bridge did not answer in time (REST: 504)."""


_MAPPINGS = {
    AgentUnreachableError: ErrorMapping(502, "UNAVAILABLE", "AGENT_UNREACHABLE"),
    AgentTimeoutError: ErrorMapping(504, "DEADLINE_EXCEEDED", "AGENT_TIMEOUT"),
}


def _register() -> None:
    for error, mapping in _MAPPINGS.items():
        a2a_errors.A2A_ERROR_MAPPING[error] = mapping
        a2a_errors.A2A_ERROR_REASONS[error] = mapping.reason
    # Not in JSON_RPC_ERROR_CODE_MAP: its lookups default to -32603 already, and the SDK's client
    # transports invert that map (code -> class) at import, where a second -32603 class would win.


_register()


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_unauthorized(exc: BaseException) -> bool:
    """True when the agent answered HTTP 401 somewhere down `exc`'s cause chain."""
    return any(
        isinstance(item, httpx.HTTPStatusError) and item.response.status_code == 401
        for item in _cause_chain(exc)
    )


def is_refused_call(exc: BaseException) -> bool:
    """True for JSON-RPC `-32600` down `exc`'s chain: A2X's refusal of credentials off a send (pitfall 28)."""
    return any(isinstance(item, InvalidRequestError) for item in _cause_chain(exc))


def unreachable(slug: str) -> str:
    """What the client is told when `slug` does not answer."""
    return f"agent {slug!r} is not reachable (is it running?)"


def upstream_error(exc: BaseException, slug: str, injected: Collection[str] = ()) -> A2AError:
    """A clean A2A error for a failed upstream exchange; any injected value is cut from its text.

    An agent that is down, drops the connection or answers an HTTP error is an `AgentUnreachableError`,
    one that does not answer in time an `AgentTimeoutError` (REST: 502 and 504, agent_errors.py)."""
    chain = _cause_chain(exc)
    for item in chain:
        if isinstance(item, AgentUnreachableError | AgentTimeoutError):
            return item
        if isinstance(item, A2AClientTimeoutError | httpx.TimeoutException):
            return AgentTimeoutError(f"agent {slug!r} did not answer in time")
        if isinstance(item, httpx.ConnectError):
            return AgentUnreachableError(unreachable(slug))
        if isinstance(item, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return AgentUnreachableError(f"agent {slug!r} closed the connection mid-response (did it stop?)")
        if isinstance(item, httpx.HTTPStatusError):
            status = item.response.status_code
            hint = " (it wants credentials)" if status in (401, 403) else ""
            return AgentUnreachableError(f"agent {slug!r} answered HTTP {status}{hint}")
    if isinstance(exc, A2AError) and not isinstance(exc, A2AClientError):
        # The agent's own JSON-RPC error (task not found, invalid params...): same type, clean text.
        return type(exc)(scrub_text(f"agent {slug!r}: {exc.message}", injected))
    if isinstance(exc, A2AClientError):
        return InvalidAgentResponseError(scrub_text(f"agent {slug!r}: {exc.message}", injected)[:500])
    return InternalError(f"agent {slug!r}: {type(exc).__name__}")
