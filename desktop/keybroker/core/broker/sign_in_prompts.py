# SPDX-License-Identifier: Apache-2.0
"""The sign-in seam: what the user is asked before a browser opens, and the device code they type.

A sign-in prompt is its own kind of prompt, beside the secret prompt (prompts.py), which stays as it
is: "<agent> wants you to sign in at <host>" with Open browser / Deny. The device flow (RFC 8628)
shows a code and a URL to visit, with Copy and Open. `SignInPrompter` is implemented by the tray
(ui/sign_in_dialogs.py), the terminal (`serve --headless`, the CLI: the URL and the code go to
stderr) and tests. Like `Prompter`, it never enforces a deadline: the caller cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["DeviceCodeNotice", "SignInAsk", "SignInPrompter"]


@dataclass(frozen=True, slots=True)
class SignInAsk:
    """An agent's scheme needs the user to sign in at an authorization server."""

    agent_slug: str
    agent_name: str
    scheme: str
    host: str  # the authorization server's host, as the prompt names it
    flow: str  # code | device
    #: Why now: the agent refused its credentials, or asked through the Agent Stack OAuth extension.
    reason: str = ""
    url: str | None = None  # the page the browser opens (code flow), for headless front ends
    #: The agent is the OAuth client and keeps the tokens (Agent Stack's OAuth extension); Keybroker
    #: only opens the browser and hands the redirect back.
    agent_client: bool = False


@dataclass(frozen=True, slots=True)
class DeviceCodeNotice:
    """RFC 8628's user part: type `user_code` at `verification_uri`."""

    agent_slug: str
    agent_name: str
    scheme: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float


class SignInPrompter(Protocol):
    """Asks for and shows sign-ins (module docstring)."""

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        """True when the user chose Open browser (or Continue for a device code)."""
        ...

    async def show_device_code(self, notice: DeviceCodeNotice) -> None:
        """Show the code until cancelled (the sign-in ended); return early when the user cancels."""
        ...
