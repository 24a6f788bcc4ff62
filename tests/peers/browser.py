# SPDX-License-Identifier: Apache-2.0
"""A scripted browser for the sign-in pages of scripts/peers/oidc/server.mjs (oidc-provider).

It does what a person would: follows redirects with cookies, fills the login form, allows (or denies)
the consent, and for the device flow enters the user code and confirms it. Plain HTML forms only.

- `ScriptedBrowser(login, password).authorize(url)` returns the URL the server finally redirects to
  (the client's redirect_uri with `code`, `state` and `iss`, or `error`), without fetching it.
- `ScriptedBrowser(...).approve_device(verification_uri, user_code)` completes RFC 8628's user part.
- As a program it stands in for `$BROWSER`: `BROWSER="python tests/peers/browser.py %s &"` (the `&` makes
  Python's webbrowser not wait for it). It signs in with $KEYBROKER_TEST_BROWSER_LOGIN and
  $KEYBROKER_TEST_BROWSER_PASSWORD, then GETs the final redirect (delivering the code to the app's
  loopback listener, as a real browser would). $KEYBROKER_TEST_BROWSER_DENY=1 denies the consent.
  Exit status 0 when it reached the redirect, 1 otherwise (the reason on stderr).
  $KEYBROKER_TEST_BROWSER_RECORD=<file> appends each final redirect URL to that file (a test then knows
  the code and checks it went nowhere else).

Standalone on purpose (stdlib + httpx), so it runs as a plain script path.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

LOGIN_ENV = "KEYBROKER_TEST_BROWSER_LOGIN"
PASSWORD_ENV = "KEYBROKER_TEST_BROWSER_PASSWORD"
DENY_ENV = "KEYBROKER_TEST_BROWSER_DENY"
RECORD_ENV = "KEYBROKER_TEST_BROWSER_RECORD"
MAX_STEPS = 20


class BrowserError(RuntimeError):
    """The pages did not lead where a sign-in should (unknown page, bad credentials, loop)."""


@dataclass
class Form:
    """One <form>: where it goes and its fields; buttons are (name, value) pairs, possibly unnamed."""

    action: str
    method: str
    form_id: str | None
    fields: dict[str, str] = field(default_factory=dict)
    field_types: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str | None, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    """Collects forms, their inputs and buttons (also buttons outside a form that name it with form=)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._loose_buttons: list[tuple[str, str | None, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "form":
            self._current = Form(
                action=a.get("action", ""), method=a.get("method", "get").lower(), form_id=a.get("id")
            )
            self.forms.append(self._current)
        elif tag == "input" and a.get("name"):
            target = self._form_for(a.get("form"))
            if target is not None:
                kind = a.get("type", "text").lower()
                if kind in {"submit", "button"}:
                    target.buttons.append((a["name"], a.get("value", "")))
                else:
                    target.fields[a["name"]] = a.get("value", "")
                    target.field_types[a["name"]] = kind
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            if a.get("form"):
                self._loose_buttons.append((a["form"], a.get("name") or None, a.get("value", "")))
            elif self._current is not None:
                self._current.buttons.append((a.get("name") or None, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None

    def _form_for(self, form_id: str | None) -> Form | None:
        if form_id:
            return next((f for f in self.forms if f.form_id == form_id), None)
        return self._current

    def close(self) -> None:
        super().close()
        for form_id, name, value in self._loose_buttons:
            target = self._form_for(form_id)
            if target is not None:
                target.buttons.append((name, value))


def parse_forms(html: str) -> tuple[list[Form], set[str]]:
    """The forms of a page and the element ids it has."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms, parser.ids


def _is_abort(form: Form) -> bool:
    return form.action.rstrip("/").endswith("/abort")


class ScriptedBrowser:
    """Signs in as one account and answers the consent; keeps cookies like a browser session."""

    def __init__(self, login: str, password: str, *, deny: bool = False, timeout: float = 10.0) -> None:
        self.login = login
        self.password = password
        self.deny = deny
        self.visited: list[str] = []
        self._client = httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ScriptedBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authorize(self, authorization_url: str) -> str:
        """Go through sign-in and consent; return the redirect that leaves the authorization server."""
        server = _origin(authorization_url)
        response = self._client.get(authorization_url)
        for _ in range(MAX_STEPS):
            self.visited.append(str(response.url))
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if _origin(target) != server:
                    return target
                response = self._client.get(target)
                continue
            response = self._submit_next(response, user_code=None)
        raise BrowserError(f"no redirect out of {server} after {MAX_STEPS} steps: {self.visited}")

    def approve_device(self, verification_uri: str, user_code: str | None = None) -> None:
        """Open verification_uri (or verification_uri_complete), enter the code, sign in, allow."""
        response = self._client.get(verification_uri)
        for _ in range(MAX_STEPS):
            self.visited.append(str(response.url))
            if response.is_redirect:
                response = self._client.get(urljoin(str(response.url), response.headers["location"]))
                continue
            _, ids = parse_forms(response.text)
            if "device-success" in ids:
                return
            response = self._submit_next(response, user_code=user_code)
        raise BrowserError(f"device sign-in did not finish after {MAX_STEPS} steps: {self.visited}")

    def _submit_next(self, response: httpx.Response, *, user_code: str | None) -> httpx.Response:
        """Fill and submit the one form that moves the sign-in on."""
        if response.status_code >= 400:
            raise BrowserError(f"{response.url} answered {response.status_code}: {_text(response.text)}")
        forms, _ = parse_forms(response.text)
        if not forms:
            raise BrowserError(f"no form on {response.url}: {_text(response.text)}")
        form = self._choose(forms, response)
        data = dict(form.fields)
        if any(t == "password" for t in form.field_types.values()):
            if self.visited.count(str(response.url)) > 1:
                raise BrowserError(f"login refused for {self.login!r}: {_text(response.text)}")
            data.update(self._credentials(form))
        if "user_code" in form.fields and not form.fields["user_code"]:
            if user_code is None:
                raise BrowserError(f"{response.url} asks for a user code and none was given")
            data["user_code"] = user_code
        button = self._button(form)
        if button is not None and button[0]:
            data[button[0]] = button[1]
        action = urljoin(str(response.url), form.action or str(response.url))
        if form.method == "post":
            return self._client.post(action, data=data)
        return self._client.get(action, params=data)

    def _choose(self, forms: list[Form], response: httpx.Response) -> Form:
        if self.deny:
            aborts = [f for f in forms if _is_abort(f) or any(n == "abort" for n, _ in f.buttons)]
            if aborts and not any("password" in f.field_types.values() for f in forms):
                return aborts[0]
        candidates = [f for f in forms if not _is_abort(f)]
        if not candidates:
            raise BrowserError(f"only abort forms on {response.url}")
        return candidates[0]

    def _button(self, form: Form) -> tuple[str | None, str] | None:
        if self.deny:
            abort = next((b for b in form.buttons if b[0] == "abort"), None)
            if abort is not None:
                return abort
        return next((b for b in form.buttons if b[0] != "abort"), None)

    def _credentials(self, form: Form) -> dict[str, str]:
        user_field = next(
            (n for n, t in form.field_types.items() if t in {"text", "email"} and n != "user_code"), "login"
        )
        password_field = next(n for n, t in form.field_types.items() if t == "password")
        return {user_field: self.login, password_field: self.password}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _text(html: str, limit: int = 500) -> str:
    """The visible words of a page, for error messages."""
    visible = re.sub(r"<(style|script)\b.*?</\1>|<[^>]+>", " ", html, flags=re.DOTALL | re.IGNORECASE)
    return " ".join(visible.split())[:limit]


def main(argv: list[str]) -> int:
    """$BROWSER entry point: sign in for the URL, then GET the final redirect like a browser."""
    if len(argv) != 2:
        print("usage: browser.py AUTHORIZATION_URL", file=sys.stderr)
        return 2
    login, password = os.environ.get(LOGIN_ENV), os.environ.get(PASSWORD_ENV)
    if not login or not password:
        print(f"browser.py: set {LOGIN_ENV} and {PASSWORD_ENV}", file=sys.stderr)
        return 2
    try:
        with ScriptedBrowser(login, password, deny=os.environ.get(DENY_ENV) == "1") as browser:
            redirect = browser.authorize(argv[1])
        record = os.environ.get(RECORD_ENV)
        if record:
            with open(record, "a", encoding="utf-8") as out:
                out.write(redirect + "\n")
        # The app's loopback listener gets the code; what it answers does not matter to the browser.
        with httpx.Client(trust_env=False, timeout=10.0) as client:
            client.get(redirect)
    except (BrowserError, httpx.HTTPError) as exc:
        print(f"browser.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
