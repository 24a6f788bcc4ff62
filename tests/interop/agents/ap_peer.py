# SPDX-License-Identifier: Apache-2.0
"""A tiny agent serving the Agent Protocol secrets API itself: the peer of `agents push-secrets`.

Usage: `python ap_peer.py PORT`. It serves a card at `/.well-known/agent-card.json` (so `agents add`
works), and `GET|POST /ap/v1/agent/secrets`, `DELETE /ap/v1/agent/secrets/{secret_id}` (AP RFC
"Secrets Management") over an in-memory store: a POST for a key it has replaces the value and keeps
the id. With `KEYBROKER_PEER_API_KEY` set, its card declares an `X-API-Key` header scheme and every
`/ap` and `/debug` request needs that header (401 otherwise).

For the tests only: `GET /debug/proofs` answers `{key: "len=N sha256=<12 hex>"}` (never a value)
and `POST /debug/preset` adds a key as if another client had set it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

API_KEY_HEADER = "X-API-Key"


class SecretRequestBody(BaseModel):
    secret_key: str
    secret_value: str


def proof(value: str) -> str:
    return f"len={len(value)} sha256={hashlib.sha256(value.encode()).hexdigest()[:12]}"


def build_app(port: int, api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    store: dict[str, tuple[str, str]] = {}  # secret_id -> (key, value)
    ids = itertools.count(1)
    base = f"http://127.0.0.1:{port}"

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Response:
        guarded = request.url.path.startswith(("/ap/", "/debug/"))
        given = request.headers.get(API_KEY_HEADER, "")
        if api_key and guarded and not hmac.compare_digest(given.encode(), api_key.encode()):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        response: Response = await call_next(request)
        return response

    @app.get("/.well-known/agent-card.json")
    async def card() -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": "AP Peer",
            "description": "Serves the Agent Protocol secrets API",
            "version": "1.0.0",
            "url": base + "/",
            "preferredTransport": "JSONRPC",
            "protocolVersion": "0.3.0",
            "capabilities": {"streaming": False},
            "defaultInputModes": ["text"],
            "defaultOutputModes": ["text"],
            "skills": [],
        }
        if api_key:
            data["securitySchemes"] = {"apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}}
            data["security"] = [{"apiKey": []}]
        return data

    def listed() -> dict[str, Any]:
        return {"secrets": [{"secret_id": i, "secret_key": k} for i, (k, _) in sorted(store.items())]}

    @app.get("/ap/v1/agent/secrets")
    async def list_keys() -> dict[str, Any]:
        return listed()

    @app.post("/ap/v1/agent/secrets")
    async def add(body: SecretRequestBody) -> dict[str, str]:
        for secret_id, (key, _) in store.items():
            if key == body.secret_key:
                store[secret_id] = (key, body.secret_value)
                return {"secret_id": secret_id, "secret_key": key}
        secret_id = f"peer-{next(ids)}"
        store[secret_id] = (body.secret_key, body.secret_value)
        return {"secret_id": secret_id, "secret_key": body.secret_key}

    @app.delete("/ap/v1/agent/secrets/{secret_id}", status_code=204)
    async def delete(secret_id: str) -> Response:
        if store.pop(secret_id, None) is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(status_code=204)

    @app.get("/debug/proofs")
    async def proofs() -> dict[str, str]:
        return {key: proof(value) for key, value in store.values()}

    @app.post("/debug/preset")
    async def preset(body: SecretRequestBody) -> dict[str, str]:
        return await add(body)

    return app


def main() -> None:
    port = int(sys.argv[1])
    app = build_app(port, os.environ.get("KEYBROKER_PEER_API_KEY") or None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", date_header=False)


if __name__ == "__main__":
    main()
