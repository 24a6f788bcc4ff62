# SPDX-License-Identifier: Apache-2.0
"""The user's part of a sign-in an agent runs itself (Agent Stack's OAuth extension, PROTOCOL §2.2).

The agent is the OAuth client (it registered itself, made the PKCE pair and the `state`, and keeps
the tokens); Keybroker only stands where a browser-based client would:
1. the tray asks "<agent> wants you to sign in at <host>" (the sign-in prompt, Open browser / Deny);
2. on Open browser, the bridge's callback listener is armed (`arm`), then the system browser opens
   the authorization URL (Python's `webbrowser`: `$BROWSER` is honoured);
3. the redirect is awaited; all three within `seconds` together (the agent's run does not wait
   forever either). A redirect carrying a `code` is handed back to the bridge, which resumes the
   agent's task with it; one carrying an `error` (the user refused at the server) counts as declined.
Each outcome is audited under the agent, key `oauth:<host>`: `signed_in`, `denied` or `timed_out`,
with the host and the flow in the detail; never the URL, the code or a token.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.sign_in_prompts import SignInAsk, SignInPrompter
from keybroker.core.models import AgentRecord, AuditDecision, SecretValue

__all__ = ["EXTENSION_REASON", "EXTENSION_SCHEME", "agent_sign_in", "sign_in_host"]

log = logging.getLogger("keybroker.auth")

#: What the prompt names as the scheme and gives as the reason for an agent's own sign-in.
EXTENSION_SCHEME = "Agent Stack OAuth"
EXTENSION_REASON = "the agent asked for it (Agent Stack OAuth extension); the agent keeps the tokens"


def sign_in_host(url: SecretValue) -> str:
    """The host of an authorization URL, as the prompt and the audit name it ("?" when none)."""
    try:
        return urlsplit(url.reveal()).hostname or "?"
    except ValueError:
        return "?"


def _refused_at_server(callback: SecretValue) -> bool:
    """True when the redirect carries no authorization code (`error=access_denied` and the like)."""
    try:
        query = parse_qs(urlsplit(callback.reveal()).query)
    except ValueError:
        return True
    return not query.get("code")


def _drop(waiting: Awaitable[SecretValue] | None) -> None:
    """Stop waiting for a redirect that will not come (the browser never opened)."""
    if isinstance(waiting, asyncio.Future):
        waiting.cancel()
    elif inspect.iscoroutine(waiting):
        waiting.close()


async def agent_sign_in(
    agent: AgentRecord,
    url: SecretValue,
    arm: Callable[[], Awaitable[SecretValue]],
    *,
    prompter: SignInPrompter | None,
    open_browser: Callable[[str], Awaitable[None]],
    audit: AuditLog,
    seconds: float,
    task_id: str | None = None,
    context_id: str | None = None,
    caller: str | None = None,
) -> SecretValue | None:
    """The callback URL the browser brought back, or None when declined, refused or timed out.

    `arm()` starts waiting for the redirect and returns what completes with it: it is called only
    once the user chose Open browser, before the browser opens.
    """
    host = sign_in_host(url)

    def record(decision: AuditDecision, detail: str) -> None:
        audit.append(
            decision,
            agent=agent.slug,
            key=f"oauth:{host}",
            task_id=task_id,
            context_id=context_id,
            caller=caller,
            detail=f"{detail} (Agent Stack OAuth extension, code flow at {host})",
        )

    if prompter is None:
        log.info("agent %r asked the user to sign in at %s: no one to ask, declined", agent.slug, host)
        record(AuditDecision.DENIED, "no sign-in prompt available")
        return None
    ask = SignInAsk(
        agent.slug,
        agent.name or agent.slug,
        EXTENSION_SCHEME,
        host,
        "code",
        EXTENSION_REASON,
        url.reveal(),
        agent_client=True,
    )
    asked = True
    redirect: Awaitable[SecretValue] | None = None
    try:
        # One deadline for the prompt and the browser together: the agent's run ends 10 minutes after
        # it asked (agentstack's task_timeout, PROTOCOL pitfall 11), so the whole sign-in must fit.
        async with asyncio.timeout(seconds):
            if not await prompter.confirm_sign_in(ask):
                record(AuditDecision.DENIED, "the user chose Deny")
                return None
            asked = False
            redirect = arm()
            await open_browser(url.reveal())
            callback = await redirect
    except TimeoutError:
        why = "the sign-in prompt was not answered" if asked else "no redirect came back from the browser"
        record(AuditDecision.TIMED_OUT, why)
        return None
    except Exception as exc:  # the prompt or the browser failed: declined, and the record says so
        _drop(redirect)
        log.warning("agent %r's sign-in at %s could not be shown: %s", agent.slug, host, type(exc).__name__)
        record(AuditDecision.DENIED, f"the sign-in could not be shown ({type(exc).__name__})")
        return None
    if _refused_at_server(callback):
        record(AuditDecision.DENIED, "the authorization server sent no code (refused there)")
        return None
    record(AuditDecision.SIGNED_IN, "the browser brought the code back; handed to the agent")
    return callback
