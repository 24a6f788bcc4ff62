"""Sign-ins without a window (`keybroker auth login`, `serve --headless`): everything goes to stderr.

- `open_browser(url)`: the URL is written to stderr, then the system browser is opened with Python's
  `webbrowser` (`$BROWSER` honoured); with no browser, the user opens the URL themselves.
- `StderrSignIn`, the `SignInPrompter`: a device code and its URL are written to stderr; a sign-in
  an agent's refusal would start is declined with the command that does it (a headless process has
  no one to ask "Open browser?", and a browser must not open unasked).
Everything shown comes from agent cards and authorization servers: control characters are replaced.
"""

from __future__ import annotations

import asyncio
import sys
import webbrowser

from keybroker.core.broker.sign_in_prompts import DeviceCodeNotice, SignInAsk
from keybroker.core.safe_text import one_line

__all__ = ["StderrSignIn", "open_browser"]


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def open_browser(url: str) -> None:
    """Show `url` on stderr and open it in the system browser."""
    _say(f"sign in at: {one_line(url, 4000)}")
    if not await asyncio.to_thread(webbrowser.open, url):
        _say("no browser could be opened: open the URL above yourself")


class StderrSignIn:
    """A `SignInPrompter` for terminals and services (module docstring)."""

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        """Decline, saying which command signs in (an agent's own sign-in: that it was declined)."""
        if ask.agent_client:
            _say(
                f"{one_line(ask.agent_name, 80)} wants you to sign in at {one_line(ask.host, 200)} "
                "(its own sign-in, Agent Stack OAuth extension): declined, a headless Keybroker opens "
                "no browser unasked; use the tray app to sign in"
            )
            return False
        _say(
            f"{one_line(ask.agent_name, 80)} wants you to sign in at {one_line(ask.host, 200)}: "
            f"run `keybroker auth login {ask.agent_slug} --scheme {one_line(ask.scheme, 80)}`"
        )
        return False

    async def show_device_code(self, notice: DeviceCodeNotice) -> None:
        """Write the code and where to type it; wait until the sign-in ends."""
        where = notice.verification_uri_complete or notice.verification_uri
        _say(
            f"to sign in to {one_line(notice.agent_name, 80)}, visit {one_line(where, 2000)} "
            f"and enter the code {one_line(notice.user_code, 40)}"
        )
        await asyncio.Event().wait()
