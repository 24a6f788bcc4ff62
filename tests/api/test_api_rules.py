# SPDX-License-Identifier: Apache-2.0
"""Rules over every route: the token, the OpenAPI document, no value ever out, behind the guard."""

from __future__ import annotations

import logging
import re
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from keybroker.core.api.app import API_PREFIX, OPENAPI_PATH, create_api, set_api_token
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.wiring.services import Services
from tests.api.conftest import BASE_URL, DEMO_URL, TOKEN, make_client

#: The endpoint list (INTERFACES: everything the CLI does, never a value).
EXPECTED_ROUTES = {
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/prompts"),
    ("GET", "/api/v1/agents"),
    ("POST", "/api/v1/agents"),
    ("GET", "/api/v1/agents/{slug}"),
    ("POST", "/api/v1/agents/{slug}/refresh"),
    ("DELETE", "/api/v1/agents/{slug}"),
    ("PATCH", "/api/v1/agents/{slug}"),
    ("GET", "/api/v1/secrets"),
    ("PUT", "/api/v1/secrets"),
    ("GET", "/api/v1/secrets/{secret_id}"),
    ("PATCH", "/api/v1/secrets/{secret_id}"),
    ("DELETE", "/api/v1/secrets/{secret_id}"),
    # A value's versions in a team vault, restoring one; listing team secrets again (versions.py).
    ("GET", "/api/v1/versions/{secret}"),
    ("POST", "/api/v1/versions/{secret}"),
    ("POST", "/api/v1/teams/sync"),
    ("GET", "/api/v1/grants"),
    ("DELETE", "/api/v1/grants/{grant_id}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
    ("POST", "/api/v1/lock"),
    ("GET", "/api/v1/auth"),  # sign-ins (issue 13)
    ("DELETE", "/api/v1/auth/{slug}/{scheme}"),
    ("PUT", "/api/v1/auth/{slug}/{scheme}/client"),
    ("POST", "/api/v1/auth/{slug}/{scheme}/login"),
    ("PUT", "/api/v1/auth/{slug}/{scheme}/certificate"),
    # Model access (issue 14): `keybroker models ...` through a running instance.
    ("GET", "/api/v1/models/providers"),
    ("PUT", "/api/v1/models/providers/{name}"),
    ("DELETE", "/api/v1/models/providers/{name}"),
    ("POST", "/api/v1/models/providers/{name}/refresh"),
    ("POST", "/api/v1/models/providers/{name}/test"),
    ("GET", "/api/v1/models/grants"),
    ("POST", "/api/v1/models/grants"),
    ("DELETE", "/api/v1/models/grants/{grant_id}"),
    ("GET", "/api/v1/models/usage"),
    ("GET", "/api/v1/models/budgets"),
    ("PUT", "/api/v1/models/budgets/{slug}"),
    # The Agent Protocol secrets API of each bridged agent (ap_secrets.py).
    ("GET", "/agents/{slug}/ap/v1/agent/secrets"),
    ("POST", "/agents/{slug}/ap/v1/agent/secrets"),
    ("DELETE", "/agents/{slug}/ap/v1/agent/secrets/{secret_id}"),
}
AP_PREFIX = "/agents/{slug}/ap/v1/"
GUARD_ERROR = {"$ref": "#/components/schemas/GuardError"}
ERROR_RESPONSE = {"$ref": "#/components/schemas/ErrorResponse"}


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route but the schema, `{x:path}` spelled `{x}` as in OpenAPI.

    FastAPI 0.16x keeps included routers nested (`iter_route_contexts` flattens them); older
    versions list the routes flat in `app.routes`.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI < 0.16x
        found = [(getattr(r, "methods", None), getattr(r, "path", "")) for r in app.routes]
    else:
        found = [(c.methods, c.path or "") for c in iter_route_contexts(app.routes)]
    out: list[tuple[str, str]] = []
    for methods, path in found:
        if path == OPENAPI_PATH:
            continue
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
        out.extend((m, template) for m in sorted(methods or {"?"}) if m != "HEAD")
    return out


# Routes are taken from the app itself, so a new route cannot escape the token tests. Building the
# app touches no service (they are only used per request), hence the placeholder.
ROUTES = app_routes(create_api(cast(Services, object()), None, SecretValue("collect-only")))


def concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "x", path)


def audit_count(services: Services) -> int:
    return len(services.audit.events())


def test_the_app_serves_exactly_the_documented_endpoints() -> None:
    assert set(ROUTES) == EXPECTED_ROUTES
    assert all(path.startswith((API_PREFIX + "/", AP_PREFIX)) for _, path in ROUTES)


BAD_AUTH: list[list[tuple[str, str]]] = [
    [],
    [("Authorization", "Bearer wrong-token")],
    [("Authorization", f"Basic {TOKEN}")],
    [("Authorization", TOKEN)],
    [("Authorization", "Bearer ")],
    [("Authorization", f"Bearer {TOKEN}x")],
    [("Authorization", f"Bearer {TOKEN[:-1]}")],
    [("Authorization", f"Bearer {TOKEN}"), ("Authorization", f"Bearer {TOKEN}")],
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_needs_the_token(app: FastAPI, services: Services, method: str, path: str) -> None:
    before = audit_count(services)
    async with make_client(app, token=None) as client:
        for auth in BAD_AUTH:
            # A body that would not even parse: the token is checked before anything reads it.
            r = await client.request(
                method, concrete(path), headers=auth, content=b"{not json", params={"purge": "true"}
            )
            assert r.status_code == 401, auth
            assert r.headers["www-authenticate"].startswith("Bearer")
            err = r.json()["error"]
            assert err["code"] == "unauthorized"
            assert err["exit_code"] == 5
            assert err["message"] == ("wrong API token" if auth else "missing API token")
            assert TOKEN not in r.text
    assert audit_count(services) == before


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_answers_with_the_token(app: FastAPI, method: str, path: str) -> None:
    async with make_client(app) as client:
        r = await client.request(
            method, concrete(path), json={} if method in ("POST", "PUT", "PATCH") else None
        )
    assert r.status_code != 401
    assert r.status_code < 500, r.text
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.asyncio
async def test_a_rotated_token_replaces_the_old_one(app: FastAPI) -> None:
    set_api_token(app, SecretValue("rotated"))
    async with make_client(app) as old, make_client(app, token="rotated") as new:
        assert (await old.get("/api/v1/status")).status_code == 401
        assert (await new.get("/api/v1/status")).status_code == 200


# OpenAPI -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_openapi_lists_every_route_with_schemas(app: FastAPI) -> None:
    async with make_client(app, token=None) as client:  # no token needed: the schema holds no data
        r = await client.get(OPENAPI_PATH)
    assert r.status_code == 200
    doc = r.json()
    schemas = doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The per-install API token (`keybroker token`).",
    }
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert listed == set(ROUTES)
    for method, path in ROUTES:
        op = doc["paths"][path][method.lower()]
        assert op["security"] == [{"apiToken": []}], (method, path)
        assert op["operationId"] and op["summary"] and op["description"]
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert ok, (method, path)
        for status in ok:
            if status == "204":  # No Content: nothing to describe
                assert "content" not in op["responses"][status], (method, path)
                continue
            assert op["responses"][status]["content"]["application/json"]["schema"], (method, path, status)
        assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }
        for status, response in op["responses"].items():
            schema = response["content"]["application/json"]["schema"] if status[0] in "45" else None
            if status in ("400", "413"):  # only the bridge's guard answers these (GuardError)
                assert schema == {"$ref": "#/components/schemas/GuardError"}, (method, path, status)
            elif status == "403":  # the guard, or the API's own PolicyDenied
                assert schema == {"anyOf": [GUARD_ERROR, ERROR_RESPONSE]}, (method, path)
            elif schema is not None:
                assert schema["$ref"] == "#/components/schemas/ErrorResponse", (method, path, status)
        assert {"400", "403", "413"} <= set(op["responses"]), (method, path)
        if method in ("POST", "PUT", "PATCH") and not path.endswith(("/refresh", "/lock", "/sync")):
            assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"], (method, path)
        if op.get("parameters") or "requestBody" in op:
            assert "422" in op["responses"], (method, path)
    # FastAPI's own 422 shape is replaced by ours everywhere; no value field is ever in a response.
    assert "HTTPValidationError" not in schemas
    for name, schema in schemas.items():
        if name.endswith("Out"):
            assert "value" not in schema.get("properties", {}), name
    assert schemas["SecretPutIn"]["properties"]["value"]["format"] == "password"
    assert set(schemas["SecretPutIn"]["required"]) == {"key", "value"}


@pytest.mark.asyncio
async def test_no_html_docs_are_served(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        assert (await client.get(path)).status_code == 404


# A value never leaves --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_value_never_appears_in_a_response_or_a_log(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first, second = "s3cr3t-VALUE-one-7f3a", "s3cr3t-VALUE-two-9b1d"
    texts: list[str] = []

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        r = await client.request(method, path, **kwargs)
        texts.append(r.text)
        texts.extend(f"{k}: {v}" for k, v in r.headers.items())
        return r

    assert (await call("POST", "/api/v1/agents", json={"url": DEMO_URL, "slug": "demo"})).status_code == 201
    r = await call("PUT", "/api/v1/secrets", json={"key": "github", "value": first, "owner": "demo"})
    sid = r.json()["secret"]["secret_id"]
    await call("PATCH", f"/api/v1/secrets/{sid}", json={"value": second, "name": "n"})
    # Invalid requests that carry a value: the 422 names the field, never echoes the input.
    await call("PUT", "/api/v1/secrets", json={"key": "bad\n", "value": first})
    await call("PUT", "/api/v1/secrets", json={"key": "K", "value": first * 4000})
    await call("PUT", "/api/v1/secrets", json={"key": "K", "value": first, "owner": first})
    await call("PUT", "/api/v1/secrets", json={"key": first, "value": {"nested": second}})
    await call("PATCH", f"/api/v1/secrets/{sid}", json={"value": [first]})
    truncated = ('{"key": "K", "value": "' + first).encode()
    await call("PUT", "/api/v1/secrets", content=truncated, headers={"content-type": "application/json"})
    for path in ("/api/v1/secrets", f"/api/v1/secrets/{sid}", "/api/v1/audit", "/api/v1/status"):
        await call("GET", path)
    await call("GET", "/api/v1/agents/demo")
    await call("GET", "/api/v1/grants")
    await call("DELETE", f"/api/v1/secrets/{sid}")

    assert services.vault.get(sid) is None  # it did go through the whole life cycle
    assert len([e for e in services.audit.events() if e.decision == AuditDecision.UPDATED]) == 1
    everything = "\n".join(texts) + "\n" + caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for value in (first, second):
        assert value not in everything
        assert value[:12] not in everything


# Behind the bridge's guard ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mounted_behind_the_localhost_guard(app: FastAPI) -> None:
    guard = pytest.importorskip("keybroker.core.bridge.guard")
    guarded = guard.LocalhostGuard(app)
    async with make_client(guarded) as client:
        assert (await client.get("/api/v1/status")).status_code == 200
        assert (await client.get(OPENAPI_PATH)).status_code == 200
        r = await client.get("/api/v1/status", headers={"Host": "evil.example:7411"})
        assert r.status_code == 403
        r = await client.get("/api/v1/status", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        r = await client.options("/api/v1/status")
        assert r.status_code == 405
        assert "access-control-allow-origin" not in r.headers
        r = await client.put(
            "/api/v1/secrets",
            content=b"x" * (guard.MAX_BODY_BYTES + 1),
            headers={"content-type": "text/plain"},
        )
        assert r.status_code == 413


@pytest.mark.asyncio
async def test_served_as_the_bridge_fallback(app: FastAPI) -> None:
    bridge = pytest.importorskip("keybroker.core.bridge.app")
    bridge_app = bridge.BridgeApp(lambda slug: None, object(), api_token=SecretValue(TOKEN), fallback=app)
    try:
        async with make_client(bridge_app) as client:
            r = await client.get("/api/v1/status")
            assert r.status_code == 200
            assert r.json()["url"] == BASE_URL
            assert (await client.get(OPENAPI_PATH)).json()["info"]["title"] == "Keybroker management API"
            assert (await client.get("/agents/nobody/.well-known/agent-card.json")).status_code == 404
            r = await client.get("/api/v1/status", headers={"Origin": "http://evil.example"})
            assert r.status_code == 403
        async with make_client(bridge_app, token=None) as anonymous:
            assert (await anonymous.get("/api/v1/agents")).status_code == 401
    finally:
        await bridge_app.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("prefix", ["", "/mgmt"])
async def test_mounted_with_starlette(app: FastAPI, prefix: str) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount(prefix or "/", app=app)])
    async with make_client(outer) as client, make_client(outer, token=None) as anonymous:
        assert (await client.get(f"{prefix}/api/v1/status")).status_code == 200
        assert (await anonymous.get(f"{prefix}/api/v1/status")).status_code == 401
        assert (await anonymous.get(f"{prefix}{OPENAPI_PATH}")).status_code == 200
        r = await client.delete(f"{prefix}/api/v1/secrets")
        assert (r.status_code, r.headers["allow"]) == (405, "GET, PUT")
