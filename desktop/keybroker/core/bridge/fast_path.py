# SPDX-License-Identifier: Apache-2.0
"""The bridge's fast path: a blocking JSON-RPC send forwarded as bytes, parsed once, cut as JSON.

The full path (handler.py, run.py) turns every request and answer into a2a-sdk models and back and
reaches the agent through the SDK's client: 3.4-3.8 ms of CPU per message on these machines, where
a pass-through proxy spends about 0.1-1.5 (DESIGN §7, issue 16). The common case needs none of
that, so `FastPath.serve` takes a request when all of these hold, and leaves it to the full path
(returns None, nothing sent, nothing released) otherwise:
- `KEYBROKER_BRIDGE_PATH` is not `full`, and the upstream is the network (a test `transport` is not);
- a JSON-RPC `message/send` (0.3) or `SendMessage` with `A2A-Version: 1.0` (or their streaming
  methods: fast_stream.py), and the agent's card has a JSON-RPC interface of that same version;
- the agent is answered blocking sends (a 1.x server: upstream.py's `follow_streams` is off; for a
  stream, it streams), has no card credentials to apply (scheme_auth.py) and no model demands; no
  push config (the full path refuses it);
- a request the SDK's route would accept as it is, with a message that starts a task and carries
  nothing of the secrets extension (fast_admission.py), about no conversation the bridge may not
  answer about (released.py's `Recall`);
- every demand the card declares is released on a grant, in one broker call (fast_grant.py).
Then the granted values are put into the message at the JSON level (one `orjson` parse, one dump),
released and audited by the broker as the full path's are, and the body goes to the
agent through the fast hop (fast_hop.py). The answer is parsed once: tasks it names are reported
(task_trail.py), every fulfilment masked and every released value cut as JSON (json_cut.py), and
the agent's own bytes go back when nothing needed changing. An answer in `auth-required` with a
run-time demand granted now is answered here, the task resumed through the same hop (fast_resume.py);
one the bridge must prompt for is handed to the full path's resume loop (fast_handover.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import orjson
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.types import AgentCard
from a2a.utils.errors import A2AError, InvalidAgentResponseError
from starlette.requests import Request
from starlette.responses import Response

from keybroker.core.a2a.oauth_demand import oauth_demands_of
from keybroker.core.bridge.agent_errors import AgentUnreachableError, unreachable
from keybroker.core.bridge.fast_admission import admissible, starts_task
from keybroker.core.bridge.fast_grant import granted_values, inject_granted
from keybroker.core.bridge.fast_handover import AUTH_REQUIRED_STATES, handover
from keybroker.core.bridge.fast_hop import FastHop, HopFailedError, hop_headers
from keybroker.core.bridge.fast_resume import resume_granted
from keybroker.core.bridge.fast_stream import STREAM_METHODS, FastStream
from keybroker.core.bridge.json_cut import clean_json, json_task_states
from keybroker.core.bridge.rpc_errors import client_error
from keybroker.core.bridge.run import AgentLink, BridgeRun
from keybroker.core.bridge.task_trail import observe_states
from keybroker.core.bridge.tls import context_for
from keybroker.core.bridge.upstream import EXTENSION_HEADERS

__all__ = ["PATH_ENV", "FastPath", "fast_path_chosen"]

log = logging.getLogger("keybroker.bridge")

#: `full` sends every request through the full path (tests run the suite against each path).
PATH_ENV = "KEYBROKER_BRIDGE_PATH"
_METHODS = {"message/send": "0.3", "SendMessage": "1.0", **STREAM_METHODS}
_JSON = "application/json"
_DROPPED = "closed the connection mid-response (did it stop?)"


def fast_path_chosen(environ: Mapping[str, str] = os.environ) -> bool:
    """False when `KEYBROKER_BRIDGE_PATH=full`; the fast path is the default."""
    choice = environ.get(PATH_ENV, "fast").strip().lower()
    if choice not in ("fast", "full", ""):
        log.warning("%s=%r is neither 'fast' nor 'full': using the fast path", PATH_ENV, choice)
    return choice != "full"


def _version(protocol_version: str) -> str | None:
    if not protocol_version or protocol_version.startswith("0.3"):
        return "0.3"
    return "1.0" if protocol_version.startswith("1.") or protocol_version == "1" else None


def _extensions(request: Request) -> set[str]:
    found: set[str] = set()
    for name in EXTENSION_HEADERS:
        for value in request.headers.getlist(name):
            found.update(u.strip() for u in value.split(",") if u.strip())
    return found


class FastPath:
    """One agent's fast path (module docstring). `served` and `handed_over` count requests, `resumed`
    the run-time demands answered here."""

    def __init__(self, link: AgentLink, card: AgentCard, *, enabled: bool) -> None:
        self.link = link
        self.urls: dict[str, str] = {}
        for interface in card.supported_interfaces:
            version = _version(interface.protocol_version)
            if interface.protocol_binding == "JSONRPC" and version is not None:
                self.urls.setdefault(version, interface.url)
        upstream = link.upstream
        self.enabled = enabled and bool(self.urls)
        self._hop = FastHop(upstream.gate, upstream.limits, tls=context_for(self.urls.values()))
        self.served = 0
        self.handed_over = 0
        #: Run-time demands answered here from grants, the task resumed through the fast hop.
        self.resumed = 0
        self.streams = FastStream(link, self._hop)
        # What the card asks for is read once: a changed card is a new record, and the bridge builds
        # a new channel, with a new FastPath, for it (app.py's `_channel`). OAuth demands: the full
        # path fulfils them with a callback of the run's own; model tokens are minted by its
        # pre-flight (run.prepare).
        self._card_keeps_off = bool(oauth_demands_of(link.agent.card_json)) or (
            link.models is not None and bool(link.agent.model_demands)
        )

    async def aclose(self) -> None:
        """Close the upstream session."""
        await self._hop.aclose()

    def _eligible(self, request: Request, rpc: object) -> tuple[str, dict[str, Any]] | None:
        """(agent URL, the message) when `rpc` is a request this path serves, else None."""
        if not isinstance(rpc, dict) or rpc.get("jsonrpc") != "2.0" or "id" not in rpc:
            return None
        version = _METHODS.get(str(rpc.get("method")))
        header = request.headers.get("a2a-version", "").strip()
        if version is None or (_version(header) or "") != version or version not in self.urls:
            return None
        link = self.link
        streams = rpc.get("method") in STREAM_METHODS  # fast_stream.py: an agent that streams
        if link.auth.active or (not link.upstream.streams if streams else link.upstream.follow_streams):
            return None
        if self._card_keeps_off:
            return None
        params = rpc.get("params")
        if not isinstance(params, dict) or not isinstance(message := params.get("message"), dict):
            return None
        configuration = params.get("configuration")
        if configuration is not None and not isinstance(configuration, dict):
            return None
        if configuration and (
            configuration.get("pushNotificationConfig") or configuration.get("taskPushNotificationConfig")
        ):
            return None
        if not starts_task(message) or not admissible(rpc, version, legacy_agent=link.upstream.legacy):
            return None
        return self.urls[version], message

    async def serve(self, request: Request) -> Response | None:
        """The answer to `request` by the fast path, or None to leave it to the full path."""
        if not self.enabled:
            return None
        body = await request.body()
        try:
            rpc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # the full path answers with the SDK's parse error
        found = self._eligible(request, rpc)
        if found is None:
            return None
        url, message = found
        link = self.link
        context = ServerCallContext(
            state={"client": request.scope.get("client"), "server": request.scope.get("server")},
            requested_extensions=_extensions(request),
        )
        run = BridgeRun(link, context)
        context_id = message.get("contextId")
        context_id = context_id if isinstance(context_id, str) else ""
        if not await self._recalled(run, context_id):
            return None
        wanted = list(link.agent.demands) if link.upstream.secrets_allowed else []
        if wanted:
            if not await link.upstream.answers():
                return None  # the full path tells the client, releasing nothing
            try:  # one broker call: all released on grants, or None (a prompt: the full path asks)
                granted = await granted_values(run, wanted, context_id or None)
            except A2AError as exc:  # unaudited: nothing was released
                return _error(rpc.get("id"), exc)
            if granted is None:
                return None
            inject_granted(message, granted)
            body = orjson.dumps(rpc)
        self.served += 1
        if rpc.get("method") in STREAM_METHODS:
            return self.streams.response(run, rpc, url, body, request)
        return await self._forward(run, rpc, url, body, request)

    async def _recalled(self, run: BridgeRun, context_id: str) -> bool:
        recall = self.link.recall
        if recall is None:
            return True
        run.recall_epoch = await recall.ensure(self.link.history, self.link.slug)
        return recall.refusal((), context_id) is None

    async def _forward(
        self, run: BridgeRun, rpc: dict[str, Any], url: str, body: bytes, request: Request
    ) -> Response:
        request_id = rpc.get("id")
        version = request.headers.get("a2a-version")
        answer = await self._exchange(run, url, body, request_id, version)
        while not isinstance(answer, Response):
            data, raw = answer
            result = data.get("result") if isinstance(data, dict) else None
            states = json_task_states(result)
            if any(state in AUTH_REQUIRED_STATES for _, _, state in states):
                try:  # a run-time demand granted now: resumed here (fast_resume.py)
                    resume = await resume_granted(run, rpc, result)
                except A2AError as exc:  # unaudited: nothing was released
                    return _error(request_id, exc)
                if resume is not None:
                    self._observe(run, states)
                    self.resumed += 1
                    answer = await self._exchange(run, url, orjson.dumps(resume), request_id, version)
                    continue
                taken = await handover(run, rpc, result, request_id)
                if taken is not None:
                    self.handed_over += 1
                    return _json(taken)
            self._observe(run, states)
            cleaned, changed = clean_json(data, run.cut(), raw)
            return Response(orjson.dumps(cleaned) if changed else raw, media_type=_JSON)
        return answer

    async def _exchange(
        self, run: BridgeRun, url: str, body: bytes, request_id: object, version: str | None
    ) -> tuple[object, bytes] | Response:
        """One blocking send to the agent: its answer (parsed, and as it came), or the client's error."""
        slug = self.link.slug
        headers = hop_headers(_JSON, version, run.extensions())
        try:
            answer = await self._hop.post(url, body, headers)
        except HopFailedError as exc:
            # The full path's words (agent_errors.upstream_error), so a client sees one bridge.
            reason = unreachable(slug) if not exc.sent else f"agent {slug!r} {_DROPPED}"
            log.warning("agent %r: %s", slug, exc.reason)
            return _error(request_id, AgentUnreachableError(reason))
        if answer.status != 200:
            hint = " (it wants credentials)" if answer.status in (401, 403) else ""
            return _error(
                request_id, AgentUnreachableError(f"agent {slug!r} answered HTTP {answer.status}{hint}")
            )
        try:
            return orjson.loads(answer.body), answer.body
        except orjson.JSONDecodeError:
            return _error(request_id, InvalidAgentResponseError(f"agent {slug!r} answered with no JSON"))

    def _observe(self, run: BridgeRun, states: list[tuple[str, str, str]]) -> None:
        link = self.link
        if link.recall is not None:
            for task_id, context_id, _ in states:
                link.recall.know(run.recall_epoch, task_id, context_id)
        if link.tasks is not None:
            observe_states(link.tasks, link.slug, states, run.state)


def _error(request_id: object, exc: Exception) -> Response:
    rid = request_id if isinstance(request_id, str | int) else None
    return _json(build_error_response(rid, client_error(exc)))


def _json(data: object) -> Response:
    return Response(orjson.dumps(data), media_type=_JSON)
