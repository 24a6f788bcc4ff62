# SPDX-License-Identifier: Apache-2.0
"""keybroker.core.a2a.card_fetch: URL forms, fallback, redirects, bad bodies, dead and silent ports."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from keybroker.core.a2a.card import MAX_CARD_BYTES
from keybroker.core.a2a.card_fetch import fetch_card, fetch_card_sync, normalise_agent_url
from keybroker.core.errors import AgentUnreachable, InvalidCardError, InvalidInputError
from tests.core.a2a.card_samples import AGENTSTACK_CARD, card_10

CARD = "/.well-known/agent-card.json"
LEGACY = "/.well-known/agent.json"

# normalise_agent_url --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "base", "card"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "http://127.0.0.1:8000" + CARD),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000", "http://127.0.0.1:8000" + CARD),
        (
            "  HTTP://LocalHost:8000/agents/x/ ",
            "http://localhost:8000/agents/x",
            "http://localhost:8000/agents/x" + CARD,
        ),
        ("http://127.0.0.1:8000" + CARD, "http://127.0.0.1:8000", "http://127.0.0.1:8000" + CARD),
        ("http://h/agents/x" + LEGACY, "http://h/agents/x", "http://h/agents/x" + LEGACY),
        ("https://[::1]:8443/a", "https://[::1]:8443/a", "https://[::1]:8443/a" + CARD),
        ("http://h:8000/jsonrpc/", "http://h:8000/jsonrpc", "http://h:8000/jsonrpc" + CARD),
    ],
)
def test_normalise_agent_url(given: str, base: str, card: str) -> None:
    assert normalise_agent_url(given) == (base, card)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "empty"),
        ("ftp://h/", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("127.0.0.1:8000", "must start with http:// or https://"),
        ("http://", "no host"),
        ("http://user:pw@h/", "user name or password"),
        ("http://h/?token=x", "query or fragment"),
        ("http://h:99999/", "not a valid URL: its port must be a number"),
        ("http://h:x/", "not a valid URL: its port must be a number"),
        ("http://h/" + "a" * 3000, "longer than"),
    ],
)
def test_normalise_agent_url_refuses(given: str, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        normalise_agent_url(given)


def test_refused_url_message_keeps_no_password() -> None:
    with pytest.raises(InvalidInputError) as info:
        normalise_agent_url("http://alice:hunter2@h/")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "given", ["ghp_token-pasted-here", "ftp://ghp_token-pasted-here/", "http://h:ghp_x/"]
)
def test_refused_url_message_states_the_rule_not_the_text(given: str) -> None:
    """A token pasted into the URL field must not come back in the error (or the log it lands in)."""
    with pytest.raises(InvalidInputError) as info:
        normalise_agent_url(given)
    assert "ghp_" not in f"{info.value.message} {info.value.hint}"


# fetch_card over httpx.MockTransport ----------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering by path, remembering what was asked."""

    def __init__(self, routes: dict[str, Handler | httpx.Response]) -> None:
        self.routes = routes
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        answer = self.routes.get(request.url.path, httpx.Response(404, text="not found"))
        return answer(request) if callable(answer) else answer


def _client(recorder: Recorder, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(recorder), trust_env=False, **kwargs)


@pytest.mark.asyncio
async def test_fetch_from_base_url() -> None:
    recorder = Recorder({CARD: httpx.Response(200, json=AGENTSTACK_CARD)})
    async with _client(recorder) as client:
        fetched = await fetch_card("http://127.0.0.1:18765/", client)
    assert recorder.paths == [CARD]
    assert fetched.base_url == "http://127.0.0.1:18765"
    assert fetched.card_url == "http://127.0.0.1:18765" + CARD
    assert fetched.data == AGENTSTACK_CARD
    assert fetched.parsed.name == "keybroker-secret-peer"
    assert [d.key for d in fetched.parsed.demands] == ["github", "slack"]


@pytest.mark.asyncio
async def test_fetch_from_card_url_under_a_path() -> None:
    recorder = Recorder({"/agents/x" + CARD: httpx.Response(200, json=card_10())})
    async with _client(recorder) as client:
        fetched = await fetch_card("http://h/agents/x" + CARD, client)
    assert fetched.base_url == "http://h/agents/x"
    assert recorder.paths == ["/agents/x" + CARD]


@pytest.mark.asyncio
async def test_falls_back_to_legacy_path_only_on_404() -> None:
    recorder = Recorder({LEGACY: httpx.Response(200, json=card_10())})
    async with _client(recorder) as client:
        fetched = await fetch_card("http://h", client)
    assert recorder.paths == [CARD, LEGACY]
    assert fetched.card_url == "http://h" + LEGACY
    assert fetched.base_url == "http://h"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (500, AgentUnreachable, "HTTP 500"),
        (503, AgentUnreachable, "HTTP 503"),
        (401, InvalidCardError, "HTTP 401"),
        (403, InvalidCardError, "HTTP 403"),
        (204, InvalidCardError, "HTTP 204"),
    ],
)
async def test_other_statuses_fail_without_fallback(status: int, error: type[Exception], text: str) -> None:
    recorder = Recorder({CARD: httpx.Response(status), LEGACY: httpx.Response(200, json=card_10())})
    async with _client(recorder) as client:
        with pytest.raises(error, match=text):
            await fetch_card("http://h", client)
    assert recorder.paths == [CARD]


@pytest.mark.asyncio
async def test_404_on_both_paths_names_both() -> None:
    recorder = Recorder({})
    async with _client(recorder) as client:
        with pytest.raises(
            InvalidCardError, match=r"no agent card at http://h/\.well-known/agent-card\.json nor"
        ):
            await fetch_card("http://h", client)
    assert recorder.paths == [CARD, LEGACY]


@pytest.mark.asyncio
async def test_explicit_legacy_url_is_not_retried() -> None:
    recorder = Recorder({})
    async with _client(recorder) as client:
        with pytest.raises(InvalidCardError, match="HTTP 404"):
            await fetch_card("http://h" + LEGACY, client)
    assert recorder.paths == [LEGACY]


@pytest.mark.asyncio
async def test_redirect_is_refused_even_by_a_following_client() -> None:
    moved = httpx.Response(302, headers={"Location": "http://evil.example/card.json"})
    recorder = Recorder({CARD: moved, "/card.json": httpx.Response(200, json=card_10())})
    async with _client(recorder, follow_redirects=True) as client:
        with pytest.raises(
            InvalidCardError, match=r"redirects \(HTTP 302\) to 'http://evil\.example/card\.json'"
        ):
            await fetch_card("http://h", client)
    assert recorder.paths == [CARD]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"<html>hello</html>", "is not JSON"),
        (b'{"name": "x",', "is not JSON"),
        (b"\xff\xfe\x00garbage", "is not JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (
            b'{"description": "no name"}',
            r"invalid agent card at http://h/\.well-known/agent-card\.json: card\.name",
        ),
    ],
)
async def test_bad_bodies_are_invalid_cards(body: bytes, text: str) -> None:
    recorder = Recorder({CARD: httpx.Response(200, content=body)})
    async with _client(recorder) as client:
        with pytest.raises(InvalidCardError, match=text):
            await fetch_card("http://h", client)


@pytest.mark.asyncio
async def test_gzip_body_is_decoded() -> None:
    body = gzip.compress(json.dumps(card_10()).encode())
    response = httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})
    async with _client(Recorder({CARD: response})) as client:
        assert (await fetch_card("http://h", client)).parsed.name == "demo"


class Endless(httpx.AsyncByteStream):
    """A body that never ends, counting what was read of it."""

    def __init__(self) -> None:
        self.chunks = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.chunks += 1
            yield b" " * 65536


@pytest.mark.asyncio
async def test_oversize_body_is_cut_off_while_streaming() -> None:
    stream = Endless()
    recorder = Recorder({CARD: httpx.Response(200, stream=stream)})
    async with _client(recorder) as client:
        with pytest.raises(InvalidCardError, match="larger than 1048576 bytes"):
            await fetch_card("http://h", client)
    assert stream.chunks == MAX_CARD_BYTES // 65536 + 1


class Trickle(httpx.AsyncByteStream):
    """A byte at a time, each one quick enough for the per-read timeout."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.clock[0] += 1.0  # a second per byte
            yield b" "


@pytest.mark.asyncio
async def test_a_trickling_card_hits_the_overall_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from keybroker.core.a2a import card_fetch

    clock = [1000.0]
    monkeypatch.setattr(card_fetch.time, "monotonic", lambda: clock[0])
    recorder = Recorder({CARD: httpx.Response(200, stream=Trickle(clock))})
    async with _client(recorder) as client:
        with pytest.raises(AgentUnreachable, match="took over 20 s to send its card"):
            await fetch_card("http://h", client)
    assert clock[0] < 1030  # stopped right after the deadline, not at the 1 MiB cap


@pytest.mark.asyncio
async def test_declared_oversize_is_refused_before_reading() -> None:
    stream = Endless()
    headers = {"Content-Length": str(MAX_CARD_BYTES + 1)}
    recorder = Recorder({CARD: httpx.Response(200, stream=stream, headers=headers)})
    async with _client(recorder) as client:
        with pytest.raises(InvalidCardError, match="larger than"):
            await fetch_card("http://h", client)
    assert stream.chunks == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "no agent answers at http://h: connection refused",
        ),
        (httpx.ConnectError("[Errno -2] Name or service not known"), "host name not found"),
        (httpx.ConnectTimeout("timed out"), "no agent answers at http://h: timed out"),
        (httpx.ReadTimeout("timed out"), "timed out"),
        (httpx.RemoteProtocolError("Server disconnected"), r"connection failed \(RemoteProtocolError\)"),
    ],
)
async def test_transport_errors_become_agent_unreachable(exc: Exception, text: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    async with _client(Recorder({CARD: fail})) as client:
        with pytest.raises(AgentUnreachable, match=text):
            await fetch_card("http://h", client)


# Real sockets ---------------------------------------------------------------------------------------


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_dead_port_async() -> None:
    port = _dead_port()
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        with pytest.raises(
            AgentUnreachable, match=f"no agent answers at http://127.0.0.1:{port}: connection refused"
        ):
            await fetch_card(f"http://127.0.0.1:{port}", client)


def test_dead_port_sync() -> None:
    port = _dead_port()
    with pytest.raises(
        AgentUnreachable, match=f"no agent answers at http://127.0.0.1:{port}: connection refused"
    ):
        fetch_card_sync(f"http://127.0.0.1:{port}/")


def test_silent_port_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepted by the kernel, never answered
        port = listener.getsockname()[1]
        with pytest.raises(AgentUnreachable, match="timed out"):
            fetch_card_sync(f"http://127.0.0.1:{port}", timeout=0.3)


class CardServer:
    """A tiny threaded HTTP server answering by path: (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.paths.append(self.path)
                status, headers, body = owner.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def card(self, path: str, data: object) -> None:
        self.routes[path] = (200, {"Content-Type": "application/json"}, json.dumps(data).encode())


@pytest.fixture
def card_server() -> Iterator[CardServer]:
    server = CardServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_sync_fetch_from_base_and_card_url(card_server: CardServer) -> None:
    card_server.card(CARD, AGENTSTACK_CARD)
    by_base = fetch_card_sync(card_server.url)
    by_card = fetch_card_sync(card_server.url + CARD)
    assert by_base.base_url == by_card.base_url == card_server.url
    assert by_base.parsed == by_card.parsed
    assert by_base.parsed.fingerprint == by_card.parsed.fingerprint


def test_sync_fetch_falls_back_to_legacy(card_server: CardServer) -> None:
    card_server.card(LEGACY, card_10())
    fetched = fetch_card_sync(card_server.url + "/")
    assert fetched.card_url == card_server.url + LEGACY
    assert card_server.paths == [CARD, LEGACY]


def test_sync_fetch_refuses_redirect(card_server: CardServer) -> None:
    card_server.routes[CARD] = (301, {"Location": "/elsewhere.json"}, b"")
    card_server.card("/elsewhere.json", card_10())
    with pytest.raises(InvalidCardError, match="never follows redirects"):
        fetch_card_sync(card_server.url)
    assert card_server.paths == [CARD]


def test_sync_fetch_non_json(card_server: CardServer) -> None:
    card_server.routes[CARD] = (200, {"Content-Type": "text/html"}, b"<html>hi</html>")
    with pytest.raises(InvalidCardError, match="is not JSON"):
        fetch_card_sync(card_server.url)


def test_sync_fetch_ignores_proxy_settings(card_server: CardServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{_dead_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    card_server.card(CARD, card_10())
    assert fetch_card_sync(card_server.url).parsed.name == "demo"


def test_sync_fetch_bad_scheme_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        fetch_card_sync("gopher://127.0.0.1/")
