# SPDX-License-Identifier: Apache-2.0
"""What a JSON-RPC client is told when handling its request raised a plain Python exception.

a2a-sdk's JSON-RPC routes (1.0 and the 0.3 adapter) answer any unexpected exception with `-32603`
and the exception's own text: "maximum recursion depth exceeded while decoding a JSON array" for a
deeply nested body, "'utf-8' codec can't encode character '\\ud800' in position 1" for an unpaired
surrogate in a 0.3 message. That text describes the bridge's insides, and an exception's text may
quote what it failed on. `client_error(exc)` says instead, by type and never quoting:
- `RecursionError`, or protobuf's "too deep": the request nests too deeply (-32600);
- `UnicodeError`: the request holds text that is not valid Unicode (-32602);
- protobuf's `ParseError`: the params do not fit A2A's types (-32602);
- anything else: a generic -32603 ("see its log"); the log gets the exception's type, no text.

`cleaned(error)` applies it inside a2a-sdk's error path: when the SDK built `InternalError(str(e))`
from the exception being handled, the clean error replaces it. `SafeRequestHandler03` does the same
for exceptions raised while a 0.3 stream runs, which the SDK's 0.3 adapter catches itself.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncGenerator
from typing import Any

from a2a.compat.v0_3.request_handler import RequestHandler03
from a2a.server.context import ServerCallContext
from a2a.server.jsonrpc_models import InternalError as JSONRPCInternalError
from a2a.utils.errors import A2AError, InternalError, InvalidParamsError, InvalidRequestError
from google.protobuf.json_format import ParseError  # type: ignore[import-untyped]

__all__ = ["GENERIC_INTERNAL", "SafeRequestHandler03", "cleaned", "client_error"]

log = logging.getLogger("keybroker.bridge")

GENERIC_INTERNAL = "the bridge failed on this request (see its log)"


def client_error(exc: BaseException) -> A2AError:
    """A clean A2A error for an unexpected exception (see the module docstring); logs its type."""
    if isinstance(exc, A2AError):
        return exc
    if isinstance(exc, RecursionError) or (isinstance(exc, ParseError) and "too deep" in str(exc)):
        return InvalidRequestError("the request nests too deeply to be read")
    if isinstance(exc, UnicodeError):
        return InvalidParamsError("the request holds text that is not valid Unicode (an unpaired surrogate)")
    if isinstance(exc, ParseError):
        return InvalidParamsError("the request's params do not fit A2A's types")
    log.error("bridge: a JSON-RPC request failed: %s", type(exc).__name__)
    return InternalError(GENERIC_INTERNAL)


def cleaned(error: Any) -> Any:
    """`error` as a2a-sdk is about to answer it, or the clean error for the exception it came from.

    Call it from inside the SDK's `except` block (its error-response builders are): the exception
    being handled is then `sys.exc_info()`'s. The SDK wraps it as an A2A `InternalError` or as its
    JSON-RPC model `InternalError`, with `str(exception)` as the message; an error the bridge raised
    itself (an `A2AError`) is kept as it is.
    """
    if isinstance(error, BaseException) and not isinstance(error, A2AError):
        return client_error(error)
    handling = sys.exc_info()[1]
    if handling is None or isinstance(handling, A2AError):
        return error
    internal = type(error) is InternalError or isinstance(error, JSONRPCInternalError)
    if internal and getattr(error, "message", None) == str(handling):
        return client_error(handling)
    return error


class SafeRequestHandler03(RequestHandler03):
    """The SDK's 0.3 handler, whose streams raise only A2A errors (so they reach the client clean)."""

    async def on_message_send_stream(
        self, request: Any, context: ServerCallContext
    ) -> AsyncGenerator[Any, None]:
        """The SDK's stream; an unexpected exception becomes `client_error(exc)`."""
        stream: Any = super().on_message_send_stream(request, context)  # an async generator
        try:
            async with contextlib.aclosing(stream) as events:
                async for event in events:
                    yield event
        except Exception as exc:
            raise client_error(exc) from None

    async def on_subscribe_to_task(
        self, request: Any, context: ServerCallContext
    ) -> AsyncGenerator[Any, None]:
        """The SDK's stream; an unexpected exception becomes `client_error(exc)`."""
        stream: Any = super().on_subscribe_to_task(request, context)  # an async generator
        try:
            async with contextlib.aclosing(stream) as events:
                async for event in events:
                    yield event
        except Exception as exc:
            raise client_error(exc) from None
