# SPDX-License-Identifier: Apache-2.0
"""Every failure the API answers is `{"error": {code, message, hint, exit_code}}`: never a traceback.

- `KeybrokerError` -> its status (error_codes.py), code and exit code;
- request validation -> 422 `invalid_input` naming each field, never echoing its input (it may be
  a secret value: FastAPI's own handler would send it back); a field checked by the core's own rule
  (fields.py's `RULE_ERROR`: an agent's URL) answers in that rule's words and hint, so the CLI says
  the same with a running app as without;
- Starlette's 404/405 -> the same shape;
- anything else -> 500 `internal`, logged with its type (core errors never carry a value).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keybroker.core.api.error_codes import INTERNAL_CODE, error_code, http_status
from keybroker.core.api.fields import RULE_ERROR
from keybroker.core.api.schemas import ErrorResponse, GuardError
from keybroker.core.errors import KeybrokerError

__all__ = [
    "CatchAll",
    "Conflict",
    "error_json",
    "error_responses",
    "guard_responses",
    "install_error_handlers",
]

log = logging.getLogger("keybroker.api")

_DESCRIPTIONS = {
    400: "Bad request (exit code 2)",
    401: "Missing or wrong API token",
    403: "Denied (exit code 5)",
    404: "Not found (exit code 3)",
    409: "Conflicts with what is stored: several matches, it exists already (exit code 2), or the team "
    "vault's value changed meanwhile (exit code 4)",
    422: "Invalid input; `fields` names each invalid field (exit code 2)",
    500: "Internal or catalog error (exit code 1)",
    502: "The agent could not be reached or its card is invalid (exit code 6)",
    503: "The vault is unavailable, locked or not answering (exit code 4)",
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class Conflict(Exception):
    """Wraps a `KeybrokerError` to answer it with 409: the request was fine, the state was not."""

    def __init__(self, error: KeybrokerError) -> None:
        super().__init__(error.message)
        self.error = error


def guard_responses() -> dict[int | str, dict[str, Any]]:
    """What the bridge's guard may answer on any path before the API runs (core/bridge/guard.py).

    403 may also be the API's own `PolicyDenied`, hence either shape.
    """
    refs = ("#/components/schemas/GuardError", "#/components/schemas/ErrorResponse")
    either = {"anyOf": [{"$ref": ref} for ref in refs]}
    return {
        400: {
            "model": GuardError,
            "description": "Malformed request (Content-Length), refused by the bridge",
        },
        403: {
            "description": "Refused: a Host that is not loopback, an Origin header (bridge), or denied",
            "content": {"application/json": {"schema": either}},
        },
        413: {"model": GuardError, "description": "Body over 1 MiB, refused by the bridge"},
    }


def error_responses(statuses: Iterable[int]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all with the `ErrorResponse` schema."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in sorted(set(statuses))}


def error_json(
    status: int,
    code: str,
    message: str,
    *,
    exit_code: int,
    hint: str | None = None,
    fields: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one error shape."""
    body: dict[str, Any] = {"code": code, "message": message, "hint": hint, "exit_code": exit_code}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


async def _keybroker_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KeybrokerError)
    status = http_status(exc)
    if status >= 500:
        log.warning("api %s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    return error_json(status, error_code(type(exc)), exc.message, exit_code=exc.exit_code, hint=exc.hint)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    error = exc.error
    return error_json(409, error_code(type(error)), error.message, exit_code=error.exit_code, hint=error.hint)


def _field_error(err: Mapping[str, Any]) -> dict[str, Any]:
    loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
    names = [p for p in loc if isinstance(p, str)]
    # Only loc, msg and type: `input` and `ctx` could hold the value that was sent.
    return {
        "loc": loc,
        "field": names[-1] if names else "",
        "msg": str(err.get("msg", "")),
        "type": err["type"],
    }


def _where(loc: list[str | int]) -> str:
    """`['body', 'key']` -> `key`; `['body']` -> `body`."""
    return ".".join(map(str, loc[1:])) or (str(loc[0]) if loc else "request")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    fields = [_field_error(e) for e in errors]
    if errors and all(e["type"] == RULE_ERROR for e in errors):
        # The core's own sentences (they state the rule, never the input) and the first hint.
        hints = [str(e.get("ctx", {}).get("hint") or "") for e in errors]
        return error_json(
            422,
            "invalid_input",
            "; ".join(str(e["msg"]) for e in errors),
            exit_code=2,
            hint=next((h for h in hints if h), None),
            fields=fields,
        )
    parts = [f"{_where(f['loc'])}: {f['msg']}" for f in fields]
    return error_json(
        422,
        "invalid_input",
        "invalid request: " + "; ".join(parts),
        exit_code=2,
        hint="see /openapi.json for the request's schema",
        fields=fields,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI's "error parsing the body" (not JSON, not UTF-8...)
        fields = [{"loc": ["body"], "field": "body", "msg": "cannot be parsed", "type": "body_invalid"}]
        return error_json(
            422, "invalid_input", "invalid request: the body cannot be parsed", exit_code=2, fields=fields
        )
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    exit_code = {401: 5, 404: 3}.get(exc.status_code, 2 if exc.status_code < 500 else 1)
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed(request)
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
            message = f"{request.method} is not allowed here; use {headers['Allow']}"
    return error_json(exc.status_code, code, message, exit_code=exit_code, headers=headers)


def _allowed(request: Request) -> set[str]:
    table: list[tuple[re.Pattern[str], frozenset[str]]] = getattr(request.app.state, "allowed_methods", [])
    path = request.url.path
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return {m for pattern, methods in table if pattern.match(path) for m in methods}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on `app`."""
    app.add_exception_handler(KeybrokerError, _keybroker_error)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class CatchAll:
    """ASGI middleware: an unforeseen exception becomes a 500 JSON error instead of a traceback.

    Starlette's own `Exception` handler re-raises after answering, so the server would print the
    traceback; this one answers and stops there (the log keeps the traceback, never a value: values
    travel only inside `SecretValue`/`SecretStr`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception(
                "api %s %s: internal error (%s)", scope.get("method"), scope.get("path"), type(exc).__name__
            )
            if started:
                raise  # nothing clean can be sent any more: let the server drop the connection
            response = error_json(
                500, INTERNAL_CODE, "internal error; details are in Keybroker's log", exit_code=1
            )
            await response(scope, receive, send)
