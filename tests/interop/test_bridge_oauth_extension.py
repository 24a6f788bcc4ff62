# SPDX-License-Identifier: Apache-2.0
"""Agent Stack's OAuth extension through the bridge (issue 13), end to end with real parts only:

- the agent: agentstack-sdk 0.7.1 (tests/interop/agents/agentstack_oauth_agent.py, peer venv), which
  calls an MCP server with `OAuthExtensionServer.create_httpx_auth(...)` as its httpx auth: mcp's own
  OAuth client discovers, registers itself (DCR) with the redirect_uri the bridge fulfilled, does PKCE
  and exchanges the code;
- the protected resource: mcp 1.30's own server side (tests/interop/agents/mcp_resource_server.py),
  checking each JWT against the authorization server's JWKS;
- the authorization server: oidc-provider (tests/peers/oauth_server.py);
- the user: the sign-in prompt answered by `ScriptedSignIn`, and the real `webbrowser` with `$BROWSER`
  set to tests/peers/browser.py (it signs in, consents, and follows the redirect to the callback);
- the client: a plain a2a-sdk 1.x client that knows nothing of the extension.

The canaries are the real ones: the code and the callback URL the browser saw (browser.py records
them), the authorization URL the user was shown, and the access token the resource let in (it
records it). None may reach the client (every byte it received), the bridge's logs or the audit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import webbrowser
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from keybroker.core.auth.loopback import LoopbackRedirect
from keybroker.core.auth.signins import SignIns
from keybroker.core.broker.sign_in_prompts import SignInAsk
from keybroker.core.models import AuditDecision
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import Services, open_services
from tests.bridge.support import (
    Bridged,
    ClientRun,
    a2a_client_run,
    bridged,
    http_client,
    jsonrpc,
    message_v03,
    record_from_url,
)
from tests.core.broker.test_broker import make_broker
from tests.fakes import ScriptedPrompter
from tests.interop.conftest import PEER_PYTHON_ENV, RunningPeer, _agentstack_python, free_port
from tests.interop.sign_in_support import ScriptedSignIn
from tests.peers import oauth_server
from tests.peers.oauth_server import OAuthServer
from tests.peers.process import ServerProcess, skip_if_missing, start_process, wait_until

StartPeer = Callable[..., RunningPeer]
BROWSER_SCRIPT = Path(oauth_server.__file__).with_name("browser.py")
RESOURCE_SCRIPT = Path(__file__).with_name("agents") / "mcp_resource_server.py"
ANSWER = "resource says: sub=alice"
OAUTH_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/oauth/v1"

assert PEER_PYTHON_ENV  # the agent and the resource run in the agentstack peer venv


@dataclass
class Resource:
    """The running MCP server: its URL, and where it records the tokens it let in."""

    url: str
    tokens: Path
    process: ServerProcess

    def hits(self) -> int:
        base = self.url.removesuffix("/mcp")
        return int(httpx.get(f"{base}/hits", trust_env=False).json()["whoami"])

    def seen_tokens(self) -> list[str]:
        return self.tokens.read_text().split() if self.tokens.exists() else []


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home")}, vault=open_vault("memory"))
    yield svc
    svc.close()


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[OAuthServer]:
    with skip_if_missing(), oauth_server.oauth_server(workdir=tmp_path / "idp") as server:
        yield server


@pytest.fixture
def resource(idp: OAuthServer, tmp_path: Path) -> Iterator[Resource]:
    port = free_port()
    tokens = tmp_path / "tokens.txt"
    env = {
        **{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
        "KEYBROKER_PEER_ISSUER": idp.issuer,
        "KEYBROKER_PEER_TOKEN_LOG": str(tokens),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [_agentstack_python(), str(RESOURCE_SCRIPT), str(port)]
    server = start_process("mcp-resource", argv, tmp_path, env=env)
    try:
        wait_until(
            server,
            lambda c: c.get(f"http://127.0.0.1:{port}/hits").status_code == 200,
            timeout=60.0,
            what="the MCP server's /hits",
        )
        yield Resource(f"http://127.0.0.1:{port}/mcp", tokens, server)
    finally:
        server.stop()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch, idp: OAuthServer, tmp_path: Path) -> Path:
    """$BROWSER is the scripted user (webbrowser reads it afresh); returns the file of its redirects.
    No `&`: webbrowser waits for it off the loop, so no process outlives the test."""
    monkeypatch.setenv("BROWSER", f"{sys.executable} {BROWSER_SCRIPT} %s")
    for name, value in idp.browser_env().items():
        monkeypatch.setenv(name, value)
    record = tmp_path / "redirects.txt"
    monkeypatch.setenv("KEYBROKER_TEST_BROWSER_RECORD", str(record))
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    return record


def agent(start_peer: StartPeer, resource: Resource) -> RunningPeer:
    return start_peer("agentstack-oauth", env={"KEYBROKER_PEER_RESOURCE": resource.url})


async def run_through(
    services: Services,
    peer: RunningPeer,
    user: ScriptedSignIn,
    *,
    streaming: bool = False,
    sign_in_seconds: float = 60.0,
) -> ClientRun:
    """One message from a plain client through the bridge, sign-ins answered by `user`."""
    services.catalog.upsert_agent(record_from_url(peer.base_url))
    record = services.catalog.get_agent("peer")
    signins = SignIns(
        services.catalog, services.vault, services.audit, prompter=user, timeout=sign_in_seconds
    )
    prompter = ScriptedPrompter()
    async with bridged(record, make_broker(services, prompter), tokens=signins) as bridge:
        run = await a2a_client_run(bridge.url(), "who am I at the resource?", streaming=streaming, timeout=90)
    assert prompter.requests == []  # no secret prompt: this is a sign-in
    return run


@asynccontextmanager
async def bridge_to(services: Services, peer: RunningPeer, user: ScriptedSignIn) -> AsyncIterator[Bridged]:
    """The bridge in front of `peer` (added as `peer`), its sign-ins answered by `user`, no secret prompts."""
    services.catalog.upsert_agent(record_from_url(peer.base_url))
    record = services.catalog.get_agent("peer")
    signins = SignIns(services.catalog, services.vault, services.audit, prompter=user, timeout=60.0)
    async with bridged(record, make_broker(services, ScriptedPrompter()), tokens=signins) as bridge:
        yield bridge


def audit_of(services: Services) -> list[tuple[AuditDecision, str | None, str | None]]:
    events = services.audit.events()
    return [(e.decision, e.agent, e.key) for e in events if (e.key or "").startswith("oauth:")]


def redirects(record: Path) -> list[str]:
    return record.read_text().split() if record.exists() else []


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
async def test_the_agent_signs_the_user_in_and_a_plain_client_gets_one_completed_task(
    start_peer: StartPeer,
    services: Services,
    resource: Resource,
    browser: Path,
    caplog: pytest.LogCaptureFixture,
    streaming: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    user = ScriptedSignIn()
    run = await run_through(services, agent(start_peer, resource), user, streaming=streaming)
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert ANSWER in run.text and "scope=read" in run.text
    assert resource.hits() == 1
    # The user was asked once, naming the agent and the authorization server's host; the browser
    # then went there once and came back to the run's own callback.
    assert [(a.agent_slug, a.host, a.flow) for a in user.asks] == [("peer", "127.0.0.1", "code")]
    (ask,) = user.asks
    assert ask.url is not None and ask.url.startswith("http://127.0.0.1:")
    (callback,) = redirects(browser)
    query = parse_qs(urlsplit(callback).query)
    code, state = query["code"][0], query["state"][0]
    (token,) = set(resource.seen_tokens())
    shown = parse_qs(urlsplit(ask.url).query)
    redirect_uri = shown["redirect_uri"][0]
    assert callback.startswith(redirect_uri + "?")
    # Nothing of the sign-in reached the client, the logs or the audit.
    canaries = [code, state, callback, redirect_uri, urlsplit(redirect_uri).path, ask.url, token]
    canaries += [shown["code_challenge"][0]]
    received = run.received.decode("utf-8", "replace")
    audit = repr(services.audit.events())
    for canary in canaries:
        assert canary not in received
        assert canary not in caplog.text
        assert canary not in audit
    assert "AUTH_REQUIRED" not in json.dumps(run.events)  # the agent's request never reached the client
    assert audit_of(services) == [(AuditDecision.SIGNED_IN, "peer", "oauth:127.0.0.1")]
    if streaming:  # told what the bridge waits for, without the agent's request itself
        assert "Keybroker is waiting for the user to sign in at 127.0.0.1" in run.text
    # After the run nothing listens at the callback: a replayed redirect finds no one.
    with pytest.raises(httpx.ConnectError):
        httpx.get(callback, trust_env=False, timeout=5.0)


@pytest.mark.asyncio
async def test_deny_cancels_the_task_and_the_resource_is_never_reached(
    start_peer: StartPeer, services: Services, resource: Resource, browser: Path
) -> None:
    user = ScriptedSignIn(allow=False)
    run = await run_through(services, agent(start_peer, resource), user)
    assert run.state == "TASK_STATE_CANCELED", run.events
    assert "did not sign in at 127.0.0.1" in run.text
    assert len(user.asks) == 1
    assert redirects(browser) == []  # the browser never opened
    assert resource.hits() == 0 and resource.seen_tokens() == []
    assert user.asks[0].url is not None and user.asks[0].url not in run.received.decode()
    assert audit_of(services) == [(AuditDecision.DENIED, "peer", "oauth:127.0.0.1")]


@pytest.mark.asyncio
async def test_a_refusal_at_the_authorization_server_cancels_the_task(
    start_peer: StartPeer,
    services: Services,
    resource: Resource,
    browser: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYBROKER_TEST_BROWSER_DENY", "1")  # Open browser, then Deny at the consent page
    run = await run_through(services, agent(start_peer, resource), ScriptedSignIn())
    assert run.state == "TASK_STATE_CANCELED", run.events
    (callback,) = redirects(browser)
    assert "error=access_denied" in callback
    assert resource.hits() == 0
    assert callback not in run.received.decode()
    assert audit_of(services) == [(AuditDecision.DENIED, "peer", "oauth:127.0.0.1")]


class AwayUser(ScriptedSignIn):
    """Never answers the sign-in prompt."""

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        self.asks.append(ask)
        await asyncio.Event().wait()
        return False


@pytest.mark.asyncio
async def test_an_unanswered_prompt_times_out_and_the_client_gets_the_task_cancelled(
    start_peer: StartPeer, services: Services, resource: Resource, browser: Path
) -> None:
    user = AwayUser()
    run = await run_through(services, agent(start_peer, resource), user, sign_in_seconds=2.0)
    assert run.state == "TASK_STATE_CANCELED", run.events
    assert len(user.asks) == 1 and redirects(browser) == [] and resource.hits() == 0
    assert audit_of(services) == [(AuditDecision.TIMED_OUT, "peer", "oauth:127.0.0.1")]


class ForgingUser(ScriptedSignIn):
    """Answers Open browser, but first forges redirects: to the run's own callback before the browser
    opened (nobody waits for one yet), and to another path on the same listener."""

    def __init__(self) -> None:
        super().__init__()
        self.forged: list[int] = []

    async def confirm_sign_in(self, ask: SignInAsk) -> bool:
        assert ask.url is not None
        redirect_uri = parse_qs(urlsplit(ask.url).query)["redirect_uri"][0]
        state = parse_qs(urlsplit(ask.url).query)["state"][0]
        other = redirect_uri.rsplit("/", 1)[0] + "/another-path"
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
            forged = (f"{redirect_uri}?code=forged-code&state={state}", f"{other}?code=forged&state={state}")
            for url in forged:
                self.forged.append((await http.get(url)).status_code)
        return await super().confirm_sign_in(ask)


@pytest.mark.asyncio
async def test_forged_and_late_redirects_are_ignored(
    start_peer: StartPeer, services: Services, resource: Resource, browser: Path
) -> None:
    user = ForgingUser()
    run = await run_through(services, agent(start_peer, resource), user)
    assert user.forged == [404, 404]
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert ANSWER in run.text and "forged" not in run.text
    assert resource.hits() == 1


@pytest.mark.asyncio
async def test_a_raw_0_3_json_rpc_client_gets_the_completed_task_and_nothing_of_the_sign_in(
    start_peer: StartPeer, services: Services, resource: Resource, browser: Path
) -> None:
    """`message/send` then `tasks/get` in A2A 0.3 JSON-RPC, as a client without any SDK would."""
    peer = agent(start_peer, resource)
    user = ScriptedSignIn()
    async with (
        bridge_to(services, peer, user) as bridge,
        http_client(timeout=90.0) as http,
    ):
        sent = await http.post(bridge.url(), json=jsonrpc("message/send", {"message": message_v03("who?")}))
        task = sent.json()["result"]
        got = await http.post(bridge.url(), json=jsonrpc("tasks/get", {"id": task["id"]}, 2))
        # The bridged card still declares the extension: a client that speaks it could answer itself.
        card = (await http.get(f"{bridge.url()}/.well-known/agent-card.json")).json()
    assert task["kind"] == "task" and task["status"]["state"] == "completed", task
    assert got.json()["result"]["status"]["state"] == "completed"
    received = sent.text + got.text
    assert ANSWER in received
    (callback,) = redirects(browser)
    (token,) = set(resource.seen_tokens())
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert user.asks[0].url is not None
    for canary in (code, callback, token, user.asks[0].url, urlsplit(callback).path):
        assert canary not in received
    # The agent's `auth-required` and the resume sit in the task's history: masked and cut.
    assert "authorization_endpoint_url" in received and '"redirect_uri":"**********"' in received
    uris = [e["uri"] for e in card["capabilities"]["extensions"]]
    assert OAUTH_URI in uris


@pytest.mark.asyncio
async def test_headless_the_url_goes_to_stderr_and_the_user_opens_it_there(
    start_peer: StartPeer,
    services: Services,
    resource: Resource,
    idp: OAuthServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No browser can be opened (`webbrowser.open` finds none): the URL goes to stderr, never to the
    log, and the user who opens it there signs in as in a browser."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: False)
    user = ScriptedSignIn()
    found: list[str] = []

    async def person_at_the_terminal() -> None:
        while True:
            err = capfd.readouterr().err
            match = [line for line in err.splitlines() if "to sign in, open on this machine: " in line]
            if match:
                url = match[0].split("to sign in, open on this machine: ", 1)[1].strip()
                found.append(url)
                with idp.browser() as browser:
                    redirect = await asyncio.to_thread(browser.authorize, url)
                async with httpx.AsyncClient(trust_env=False) as http:
                    await http.get(redirect)
                return
            await asyncio.sleep(0.2)

    person = asyncio.ensure_future(person_at_the_terminal())
    try:
        run = await run_through(services, agent(start_peer, resource), user)
    finally:
        person.cancel()
    assert run.state == "TASK_STATE_COMPLETED", run.events
    assert ANSWER in run.text
    assert found == [user.asks[0].url]
    # (the person's own browser, in this process, logs its requests: only Keybroker's logs count)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("keybroker", "a2a")))
    assert "no browser could be opened" in ours and found[0] not in ours


@pytest.mark.asyncio
async def test_a_client_that_fulfils_the_extension_itself_signs_in_by_itself_through_the_bridge(
    start_peer: StartPeer, services: Services, resource: Resource, idp: OAuthServer
) -> None:
    """A client that speaks the extension (its own callback in `oauth_fulfillments`) gets the agent's
    `auth-required` with the authorization URL, and resumes the task itself: the bridge asks nobody."""
    peer = agent(start_peer, resource)
    user = ScriptedSignIn()
    async with (
        bridge_to(services, peer, user) as bridge,
        http_client(timeout=90.0) as http,
        LoopbackRedirect() as own,
    ):
        fulfil = {OAUTH_URI: {"oauth_fulfillments": {"default": {"redirect_uri": own.uri}}}}
        body = jsonrpc("message/send", {"message": message_v03("who?", metadata=fulfil)})
        asked = (await http.post(bridge.url(), json=body)).json()["result"]
        assert asked["status"]["state"] == "auth-required", asked
        url = asked["status"]["message"]["metadata"][OAUTH_URI]["authorization_endpoint_url"]
        assert url.startswith(idp.issuer) and own.uri.replace(":", "%3A").replace("/", "%2F") in url
        with idp.browser() as browser:
            redirect = await asyncio.to_thread(browser.authorize, url)
        async with httpx.AsyncClient(trust_env=False) as plain:
            await plain.get(redirect)
        back = await asyncio.wait_for(own.wait(), 10)
        resume = message_v03(
            "Authorization completed",
            metadata={OAUTH_URI: {"redirect_uri": back}},
            taskId=asked["id"],
            contextId=asked["contextId"],
        )
        done = (await http.post(bridge.url(), json=jsonrpc("message/send", {"message": resume}, 2))).json()
    assert done["result"]["status"]["state"] == "completed", done
    assert ANSWER in json.dumps(done)
    assert user.asks == [] and audit_of(services) == []


@pytest.mark.asyncio
async def test_a_sign_in_asked_for_on_the_tasks_second_turn_is_answered_too(
    start_peer: StartPeer, services: Services, resource: Resource, browser: Path
) -> None:
    """The agent asks its client something first (`input-required`), and signs in only after the
    answer: the redirect URI it registered is the first run's callback (it reads fulfilments from the
    task's first message only), so that callback waits for the task's next turn instead of closing."""
    peer = agent(start_peer, resource)
    user = ScriptedSignIn()
    async with (
        bridge_to(services, peer, user) as bridge,
        http_client(timeout=90.0) as http,
    ):
        first = await http.post(
            bridge.url(), json=jsonrpc("message/send", {"message": message_v03("ask first")})
        )
        task = first.json()["result"]
        assert task["status"]["state"] == "input-required", task
        assert user.asks == [] and redirects(browser) == []
        ids = {"taskId": task["id"], "contextId": task["contextId"]}
        second = await http.post(
            bridge.url(), json=jsonrpc("message/send", {"message": message_v03("whoami", **ids)}, 2)
        )
        done = second.json()["result"]
    assert done["status"]["state"] == "completed", done
    assert ANSWER in second.text
    assert [a.host for a in user.asks] == ["127.0.0.1"]
    (callback,) = redirects(browser)
    assert user.asks[0].url is not None
    received = first.text + second.text
    for canary in (callback, user.asks[0].url, urlsplit(callback).path):
        assert canary not in received
    assert audit_of(services) == [(AuditDecision.SIGNED_IN, "peer", "oauth:127.0.0.1")]
    # The task ended: nothing listens at its callback any more.
    with pytest.raises(httpx.ConnectError):
        httpx.get(callback, trust_env=False, timeout=5.0)
