# SPDX-License-Identifier: Apache-2.0
"""The JSON-RPC endpoint: a2a-sdk's dispatcher (0.3 and 1.0 on one URL), with one change.

a2a-sdk 1.3's dispatcher awaits the *first* event of a 1.0 `SendStreamingMessage` before it sends
the response headers (`JsonRpcDispatcher._process_streaming_request`, "Eagerly fetch the first
event"). On the bridge the first event may be minutes away: a pre-flight prompt runs before the
message is forwarded, and until headers go out no keep-alive can either, so a client's read timeout
fires (a2a-sdk's default is 5 s). The SDK has no switch for this, so `_process_streaming_request`
is overridden to start the event stream at once; an error before the first event then arrives as
an SSE `error` event, which a2a-sdk clients raise just like a JSON-RPC error response. The 0.3
adapter already starts its streams at once. Everything else is the SDK's.

Params are checked before the SDK sees them (params.py): the SDK's 0.3 adapter answers any request it
cannot validate with -32600, where bad params of a valid request are -32602; and a 1.0 stream with bad
params is refused before it starts (a plain JSON-RPC error, as an a2a-sdk agent answers it).

Errors from unexpected exceptions (a body nested too deeply, an unpaired surrogate...) are answered
without the exception's text, in both versions (rpc_errors.py).

The call context also records the client's socket address (`state["client"]`), for the audit's
"calling process" (caller.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from a2a.compat.v0_3.jsonrpc_adapter import JSONRPC03Adapter
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers import RequestHandler
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types import SendMessageRequest, SubscribeToTaskRequest
from a2a.utils import constants, proto_utils
from a2a.utils.errors import UnsupportedOperationError
from a2a.utils.version_validator import validate_version
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from jsonrpc.jsonrpc2 import JSONRPC20Response  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keybroker.core.bridge.fast_path import FastPath
from keybroker.core.bridge.handler import BridgeHandler
from keybroker.core.bridge.params import v03_rpc_problem
from keybroker.core.bridge.rpc_errors import SafeRequestHandler03, cleaned, client_error

__all__ = ["BridgeContextBuilder", "BridgeJsonRpcDispatcher", "jsonrpc_route"]


class BridgeContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's context (headers, requested extensions) plus the client's socket address."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state["client"] = request.scope.get("client")
        context.state["server"] = request.scope.get("server")
        return context


class BridgeJsonRpc03Adapter(JSONRPC03Adapter):
    """The SDK's 0.3 adapter, answering unexpected exceptions cleanly (rpc_errors.py)."""

    def __init__(self, http_handler: RequestHandler, **kwargs: Any) -> None:
        super().__init__(http_handler, **kwargs)
        self.handler = SafeRequestHandler03(request_handler=http_handler)
        self._legacy_agent = isinstance(http_handler, BridgeHandler) and http_handler.legacy_agent

    async def handle_request(
        self, request_id: str | int | None, method: str, body: dict[str, Any], request: Request
    ) -> Any:
        """The SDK's handling, after telling a malformed request (-32600) from bad params (-32602)."""
        model: Any = self.METHOD_TO_MODEL.get(method)
        if model is not None:
            problem = v03_rpc_problem(method, body, model, legacy_agent=self._legacy_agent)
            if problem is not None:
                return self._generate_error_response(request_id, problem)
        return await super().handle_request(request_id, method, body, request)

    def _generate_error_response(self, request_id: str | int | None, error: Any) -> JSONResponse:
        return super()._generate_error_response(request_id, cleaned(error))


class BridgeJsonRpcDispatcher(JsonRpcDispatcher):
    """`JsonRpcDispatcher` whose 1.0 streams start without waiting for the first event."""

    def __init__(self, request_handler: RequestHandler, **kwargs: Any) -> None:
        super().__init__(request_handler, **kwargs)
        if self._v03_adapter is not None:
            self._v03_adapter = BridgeJsonRpc03Adapter(
                http_handler=request_handler,
                context_builder=self._context_builder,
                shutdown_grace_period=self._shutdown_grace_period,
            )

    def _generate_error_response(self, request_id: str | int | None, error: Any) -> JSONResponse:
        return super()._generate_error_response(request_id, cleaned(error))

    @validate_version(constants.PROTOCOL_VERSION_1_0)
    async def _process_streaming_request(
        self,
        request_id: str | int | None,
        request_obj: Any,
        context: ServerCallContext,
    ) -> AsyncGenerator[dict[str, Any], None]:
        method = context.state.get("method")
        if isinstance(self.request_handler, BridgeHandler):
            self.request_handler.check(request_obj)  # bad params: an error response, not a stream
        stream: AsyncGenerator[Event, None]
        if method == "SendStreamingMessage" and isinstance(request_obj, SendMessageRequest):
            stream = self.request_handler.on_message_send_stream(request_obj, context)
        elif method == "SubscribeToTask" and isinstance(request_obj, SubscribeToTaskRequest):
            stream = self.request_handler.on_subscribe_to_task(request_obj, context)
        else:
            raise UnsupportedOperationError(message="Stream not supported")

        async def events() -> AsyncGenerator[dict[str, Any], None]:
            try:
                async for event in stream:
                    result = MessageToDict(
                        proto_utils.to_stream_response(event), preserving_proto_field_name=False
                    )
                    yield JSONRPC20Response(result=result, _id=request_id).data
            except Exception as exc:
                yield build_error_response(request_id, client_error(exc))
            finally:
                await stream.aclose()

        return events()


def jsonrpc_route(handler: RequestHandler, path: str = "/", fast: FastPath | None = None) -> Route:
    """The POST route serving both JSON-RPC method families (0.3 and 1.0) on `path`; `fast` tries
    each request first (fast_path.py) and leaves the rest to the SDK's dispatcher."""
    dispatcher = BridgeJsonRpcDispatcher(
        request_handler=handler, context_builder=BridgeContextBuilder(), enable_v0_3_compat=True
    )
    if fast is None:
        return Route(path=path, endpoint=dispatcher.handle_requests, methods=["POST"])

    async def endpoint(request: Request) -> Response:
        answer = await fast.serve(request)
        return answer if answer is not None else await dispatcher.handle_requests(request)

    return Route(path=path, endpoint=endpoint, methods=["POST"])
