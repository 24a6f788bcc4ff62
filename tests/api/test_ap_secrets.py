# SPDX-License-Identifier: Apache-2.0
"""The Agent Protocol secrets API, with raw HTTP through the bridge (guard, router, agent_apps, API)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from keybroker.core.api.ap_secrets import agent_protocol_app
from keybroker.core.api.app import OPENAPI_PATH, set_api_token
from keybroker.core.bridge import BridgeApp
from keybroker.core.bridge.guard import MAX_BODY_BYTES
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.wiring.services import Services
from tests.api.conftest import BASE_URL, DEMO_URL, OTHER_URL, TOKEN, SpyBroker, make_client

AP = "/agents/demo/ap/v1/agent/secrets"
VALUE = "sk-CANARY-ap-0123456789abcdef"
OTHER_VALUE = "sk-CANARY-ap-second-fedcba987"


@pytest_asyncio.fixture
async def bridge(app: FastAPI, services: Services, broker: SpyBroker) -> AsyncIterator[BridgeApp]:
    """The bridge as the runtime builds it: the API as fallback and as the `/ap/` agent app."""
    bridge_app = BridgeApp(
        services.catalog.find_agent,
        broker,
        api_token=SecretValue(TOKEN),
        fallback=app,
        agent_apps={"/ap/": agent_protocol_app(app)},
        caller=None,
    )
    yield bridge_app
    await bridge_app.aclose()


@pytest_asyncio.fixture
async def client(bridge: BridgeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(bridge) as c:
        yield c


async def add_agents(client: httpx.AsyncClient) -> None:
    for url, slug in ((DEMO_URL, "demo"), (OTHER_URL, "other")):
        r = await client.post("/api/v1/agents", json={"url": url, "slug": slug})
        assert r.status_code == 201, r.text


def decisions(services: Services) -> list[tuple[AuditDecision, str | None, str | None]]:
    return [(e.decision, e.agent, e.key) for e in services.audit.events()]


@pytest.mark.asyncio
async def test_list_add_replace_delete_round_trip(
    client: httpx.AsyncClient, services: Services, broker: SpyBroker
) -> None:
    await add_agents(client)
    r = await client.get(AP)
    assert (r.status_code, r.json()) == (200, {"secrets": []})

    r = await client.post(AP, json={"secret_key": "OPENAI_API_KEY", "secret_value": VALUE})
    assert r.status_code == 200, r.text
    created = r.json()
    assert set(created) == {"secret_id", "secret_key"} and created["secret_key"] == "OPENAI_API_KEY"
    secret_id = created["secret_id"]
    assert services.vault.get(secret_id) == SecretValue(VALUE)

    # The value is the agent's own, with the revocable *always* grant (INTERFACES "Grants").
    listed = (await client.get("/api/v1/secrets", params={"owner": "demo"})).json()
    assert [(s["key"], s["owner"], s["scheme"]) for s in listed] == [("OPENAI_API_KEY", "demo", None)]
    grants = services.catalog.list_grants(agent="demo", secret_id=secret_id)
    assert [g.scope for g in grants] == [GrantScope.ALWAYS]

    r = await client.post(AP, json={"secret_key": "OPENAI_API_KEY", "secret_value": OTHER_VALUE})
    assert (r.status_code, r.json()) == (200, created)  # replaced: same secret_id
    assert services.vault.get(secret_id) == SecretValue(OTHER_VALUE)
    assert (await client.get(AP)).json() == {"secrets": [created]}

    r = await client.delete(f"{AP}/{secret_id}")
    assert (r.status_code, r.content) == (204, b"")
    assert services.vault.get(secret_id) is None
    assert (await client.get(AP)).json() == {"secrets": []}
    assert services.catalog.list_grants(agent="demo") == []
    assert broker.forgotten.count(secret_id) >= 2  # after the replace and after the delete

    ap_events = [d for d in decisions(services) if d[1] == "demo" and d[0] != AuditDecision.AGENT_ADDED]
    assert ap_events == [
        (AuditDecision.LISTED, "demo", None),
        (AuditDecision.CREATED, "demo", "OPENAI_API_KEY"),
        (AuditDecision.UPDATED, "demo", "OPENAI_API_KEY"),
        (AuditDecision.LISTED, "demo", None),
        (AuditDecision.DELETED, "demo", "OPENAI_API_KEY"),
        (AuditDecision.LISTED, "demo", None),
    ]
    assert all(e.caller for e in services.audit.events() if e.agent == "demo")
    assert services.audit.verify().ok


@pytest.mark.asyncio
async def test_only_the_agents_own_plain_secrets_are_listed_or_deleted(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_agents(client)
    own = services.secrets.set("github", SecretValue("own-v"), owner="demo").record
    shared = services.secrets.set("github", SecretValue("shared-v")).record
    theirs = services.secrets.set("github", SecretValue("their-v"), owner="other").record
    bound = services.secrets.set("apiKey", SecretValue("scheme-v"), owner="demo", scheme="apiKey").record
    r = await client.get(AP)
    assert r.json() == {"secrets": [{"secret_id": own.secret_id, "secret_key": "github"}]}
    for record in (shared, theirs, bound):
        r = await client.delete(f"{AP}/{record.secret_id}")
        assert r.status_code == 404
        error = r.json()["error"]
        assert (error["code"], error["exit_code"]) == ("unknown_secret", 3)
        assert services.catalog.find_secret_by_id(record.secret_id) is not None
    r = await client.get("/agents/other/ap/v1/agent/secrets")
    assert r.json() == {"secrets": [{"secret_id": theirs.secret_id, "secret_key": "github"}]}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/agents/ghost/ap/v1/agent/secrets"),
        ("POST", "/agents/ghost/ap/v1/agent/secrets"),
        ("DELETE", "/agents/ghost/ap/v1/agent/secrets/sec_1"),
        ("DELETE", AP + "/sec_nope"),
    ],
)
async def test_unknown_slug_or_id_is_a_json_404(
    client: httpx.AsyncClient, services: Services, method: str, path: str
) -> None:
    await add_agents(client)
    body = {"secret_key": "K", "secret_value": VALUE} if method == "POST" else None
    r = await client.request(method, path, json=body)
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] in {"unknown_agent", "unknown_secret"} and error["exit_code"] == 3
    assert services.catalog.list_secrets() == []


BAD_BODIES: list[tuple[Any, str]] = [
    ({"secret_value": VALUE}, "secret_key"),
    ({"secret_key": "K"}, "secret_value"),
    ({"secret_key": "", "secret_value": VALUE}, "secret_key"),
    ({"secret_key": "x" * 129, "secret_value": VALUE}, "secret_key"),
    ({"secret_key": "bad\nkey", "secret_value": VALUE}, "secret_key"),
    ({"secret_key": "K", "secret_value": VALUE * 3000}, "secret_value"),
    ({"secret_key": "K", "secret_value": 42}, "secret_value"),
    ({"secret_key": ["K"], "secret_value": VALUE}, "secret_key"),
    ({"secret_key": "K", "secret_value": VALUE, "owner": "other"}, "owner"),
    ({"secret_key": "\ud800", "secret_value": VALUE}, "secret_key"),
    ([], "body"),
    ("not an object", "body"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[f for _, f in BAD_BODIES])
async def test_bad_bodies_get_422_naming_the_field_and_store_nothing(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture, body: Any, field: str
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_agents(client)
    before = len(services.audit.events())
    # json.dumps escapes a lone surrogate as \ud800, which JSON allows and UTF-8 cannot carry.
    content = json.dumps(body).encode()
    r = await client.post(AP, content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input" and error["exit_code"] == 2
    assert field in {f["field"] for f in error["fields"]}
    assert VALUE[:16] not in r.text and VALUE[:16] not in caplog.text
    assert services.catalog.list_secrets() == []
    assert len(services.audit.events()) == before


@pytest.mark.asyncio
async def test_unparsable_body_is_a_422_too(client: httpx.AsyncClient, services: Services) -> None:
    await add_agents(client)
    r = await client.post(
        AP,
        content=b'{"secret_key": "K", "secret_value": "' + VALUE.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert VALUE not in r.text
    assert services.catalog.list_secrets() == []


# Token, Host, Origin, OPTIONS, size: every AP endpoint, through the bridge ------------------------

ENDPOINTS = [("GET", AP), ("POST", AP), ("DELETE", AP + "/sec_0123")]
BAD_AUTH = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("slug", ["demo", "ghost"])
async def test_every_endpoint_needs_the_token_before_anything_else(
    bridge: BridgeApp, services: Services, method: str, path: str, slug: str
) -> None:
    async with make_client(bridge) as client:
        await add_agents(client)
    stored = services.secrets.set("K", SecretValue(VALUE), owner="demo").record
    before = len(services.audit.events())
    path = path.replace("/demo/", f"/{slug}/").replace("sec_0123", stored.secret_id)
    async with make_client(bridge, token=None) as anonymous:
        for headers in BAD_AUTH:
            r = await anonymous.request(method, path, headers=headers, content=b"{not json")
            assert r.status_code == 401, (headers, r.text)  # 401 before 404: slugs are not probed
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
    assert len(services.audit.events()) == before
    assert services.vault.get(stored.secret_id) == SecretValue(VALUE)


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_keeps_the_localhost_rules(
    client: httpx.AsyncClient, services: Services, method: str, path: str
) -> None:
    await add_agents(client)
    body = {"secret_key": "K", "secret_value": VALUE}
    for headers, status in (
        ({"Host": "evil.example:7411"}, 403),
        ({"Host": "127.0.0.1:9999"}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
    ):
        r = await client.request(method, path, headers=headers, json=body if method == "POST" else None)
        assert r.status_code == status, headers
    r = await client.options(path)
    assert r.status_code == 405
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    assert set(r.headers["allow"].split(", ")) == ({"DELETE"} if method == "DELETE" else {"GET", "POST"})
    r = await client.request(
        method, path, content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert services.catalog.list_secrets() == []
    assert r.headers.get("cache-control") == "no-store"


@pytest.mark.asyncio
async def test_answers_are_never_cached_and_a_rotated_token_works(
    app: FastAPI, client: httpx.AsyncClient, bridge: BridgeApp
) -> None:
    await add_agents(client)
    r = await client.get(AP)
    assert r.headers["cache-control"] == "no-store"
    set_api_token(app, SecretValue("rotated"))
    assert (await client.get(AP)).status_code == 401
    async with make_client(bridge, token="rotated") as rotated:
        assert (await rotated.get(AP)).status_code == 200


@pytest.mark.asyncio
async def test_the_openapi_document_has_the_rfc_operations(client: httpx.AsyncClient) -> None:
    doc = (await client.get(OPENAPI_PATH)).json()
    ops = {
        (method, path): op["operationId"]
        for path, item in doc["paths"].items()
        if "/ap/" in path
        for method, op in item.items()
    }
    assert ops == {
        ("get", "/agents/{slug}/ap/v1/agent/secrets"): "listAgentSecretKeys",
        ("post", "/agents/{slug}/ap/v1/agent/secrets"): "addAgentSecret",
        ("delete", "/agents/{slug}/ap/v1/agent/secrets/{secret_id}"): "deleteAgentSecret",
    }
    schemas = doc["components"]["schemas"]
    assert set(schemas["SecretRequestBody"]["required"]) == {"secret_key", "secret_value"}
    assert schemas["SecretKeysListResponse"]["properties"]["secrets"]["items"] == {
        "$ref": "#/components/schemas/SecretKey"
    }
    assert set(schemas["SecretKey"]["properties"]) == {"secret_id", "secret_key"}
    post = doc["paths"]["/agents/{slug}/ap/v1/agent/secrets"]["post"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SecretKey"
    }
    assert "204" in doc["paths"]["/agents/{slug}/ap/v1/agent/secrets/{secret_id}"]["delete"]["responses"]


@pytest.mark.asyncio
async def test_a_value_never_comes_back(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_agents(client)
    texts = []
    r = await client.post(AP, json={"secret_key": "K", "secret_value": VALUE})
    texts.append(r.text)
    secret_id = r.json()["secret_id"]
    for path in (
        AP,
        "/api/v1/secrets",
        f"/api/v1/secrets/{secret_id}",
        "/api/v1/audit",
        "/api/v1/agents/demo",
    ):
        texts.append((await client.get(path)).text)
    texts.append((await client.delete(f"{AP}/{secret_id}")).text)
    everything = "\n".join(texts) + caplog.text + str([e.to_json() for e in services.audit.events()])
    assert VALUE not in everything and VALUE[:12] not in everything


@pytest.mark.asyncio
async def test_the_bridge_without_the_ap_app_still_404s_ap_paths(app: FastAPI, services: Services) -> None:
    bare = BridgeApp(services.catalog.find_agent, object(), api_token=SecretValue(TOKEN), fallback=app)  # type: ignore[arg-type]
    try:
        async with make_client(bare) as client:
            assert (await client.get("/agents/ghost/ap/v1/agent/secrets")).status_code == 404
    finally:
        await bare.aclose()
    assert BASE_URL.startswith("http://127.0.0.1")
