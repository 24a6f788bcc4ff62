# SPDX-License-Identifier: Apache-2.0
"""The management API's endpoints: happy paths, errors, audit callers and the broker's cache."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from typing import Any

import httpx
import pytest

from keybroker.core.agents.url import normalise_agent_url
from keybroker.core.api.app import create_api
from keybroker.core.broker.broker import Broker, BrokerConfig
from keybroker.core.broker.grant_rules import make_grant
from keybroker.core.errors import CatalogError, InvalidInputError, VaultLocked
from keybroker.core.models import AuditDecision, GrantScope, SecretDemand, SecretValue
from keybroker.core.secrets.records import new_grant_id
from keybroker.wiring.services import Services
from tests.api.conftest import DEMO_URL, OTHER_URL, TOKEN, AgentCards, SpyBroker, make_client
from tests.core.catalog.test_claims import Holder
from tests.core.conftest import make_card
from tests.fakes import NEVER, FakeClock, ScriptedPrompter

UNKNOWN_CALLER = "api (calling process unknown)"  # ASGITransport has no socket to trace


async def add(client: httpx.AsyncClient, url: str = DEMO_URL, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/agents", json={"url": url, **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def put(client: httpx.AsyncClient, key: str, value: str, **body: Any) -> httpx.Response:
    return await client.put("/api/v1/secrets", json={"key": key, "value": value, **body})


def events(services: Services, decision: AuditDecision) -> list[Any]:
    return [e for e in services.audit.events() if e.decision == decision]


def error_of(r: httpx.Response) -> dict[str, Any]:
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    err: dict[str, Any] = body["error"]
    assert {"code", "message", "hint", "exit_code"} <= set(err)
    return err


# status ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_status_describes_the_instance(client: httpx.AsyncClient, services: Services) -> None:
    await add(client)
    assert (await put(client, "shared-key", "v1")).status_code == 201
    r = await client.get("/api/v1/status")
    assert r.status_code == 200
    s = r.json()
    assert s["running"] is True
    assert s["pid"] == os.getpid()
    assert s["port"] == 7411
    assert s["url"] == "http://127.0.0.1:7411"
    assert s["vault"]["state"] == "ok"
    assert s["vault"]["session_only"] is True
    assert s["counts"] == {
        "agents": 1,
        "secrets": 1,
        "grants": 0,
        "audit_events": len(services.audit.events()),
    }
    assert s["pending_prompts"] == 0
    assert s["details"] == {"tray": "ready"}


@pytest.mark.asyncio
async def test_status_survives_a_failing_status_callback(services: Services) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("tray gone")

    async with make_client(create_api(services, None, SecretValue(TOKEN), status=broken)) as c:
        r = await c.get("/api/v1/status")
    assert r.status_code == 200
    assert r.json()["details"] == {"error": "the app's status callback failed"}
    assert r.json()["pending_prompts"] == 0


@pytest.mark.asyncio
async def test_prompts_lists_who_waits_for_the_user_and_until_when(
    services: Services, clock: FakeClock
) -> None:
    services.agents.add(DEMO_URL, slug="demo")
    services.agents.add(OTHER_URL, slug="other")
    prompter = ScriptedPrompter(default=NEVER)
    broker = Broker.from_services(services, prompter, config=BrokerConfig(prompt_timeout=300.0))
    runs = [
        asyncio.ensure_future(
            broker.fulfil(
                services.catalog.get_agent(slug),
                [SecretDemand("github", "GitHub token")],
                phase="preflight",
                task_id=None,
                context_id=None,
            )
        )
        for slug in ("demo", "other")
    ]
    await prompter.wait_for_requests(2)
    try:
        async with make_client(create_api(services, broker, SecretValue(TOKEN))) as c:
            everyone = (await c.get("/api/v1/prompts")).json()
            demo = (await c.get("/api/v1/prompts", params={"agent": "demo"})).json()
            nobody = await c.get("/api/v1/prompts", params={"agent": "nobody"})
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await broker.aclose()
    assert sorted(p["agent"] for p in everyone) == ["demo", "other"]
    [prompt] = demo
    assert prompt["keys"] == ["github"] and prompt["phase"] == "preflight"
    assert prompt["deadline"] == prompt["created"] + 300.0 == clock.now() + 300.0
    assert prompt["prompt_id"] == next(r.prompt_id for r in prompter.requests if r.agent.slug == "demo")
    assert nobody.status_code == 200 and nobody.json() == []


# agents ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_add_agent_fetches_its_card_off_the_loop(
    client: httpx.AsyncClient, services: Services, cards: AgentCards
) -> None:
    agent = await add(client, slug="demo")
    assert agent["slug"] == "demo"
    assert agent["name"] == "Demo Agent"
    assert agent["bridged_url"] == "http://127.0.0.1:7411/agents/demo/"  # pasted verbatim into any SDK
    assert [d["key"] for d in agent["demands"]] == ["github", "slack"]
    assert all(d["status"].startswith("missing") for d in agent["demands"])
    assert services.catalog.get_agent("demo").url == DEMO_URL
    # The fetch ran in a worker thread: the event loop (this thread) never blocked on it.
    assert cards.threads and all(t is not threading.current_thread() for t in cards.threads)
    added = events(services, AuditDecision.AGENT_ADDED)
    assert [(e.agent, e.caller) for e in added] == [("demo", UNKNOWN_CALLER)]


@pytest.mark.asyncio
async def test_add_agent_without_slug_takes_it_from_the_card(client: httpx.AsyncClient) -> None:
    agent = await add(client, require_token=True)
    assert agent["slug"] == "demo-agent"
    assert agent["require_token"] is True


@pytest.mark.asyncio
async def test_add_agent_errors(client: httpx.AsyncClient, services: Services) -> None:
    await add(client, slug="demo")
    r = await client.post("/api/v1/agents", json={"url": OTHER_URL, "slug": "demo"})
    assert r.status_code == 409
    assert error_of(r)["code"] == "usage"
    assert error_of(r)["exit_code"] == 2
    assert "exists already" in error_of(r)["message"]
    r = await client.post("/api/v1/agents", json={"url": DEMO_URL})
    assert r.status_code == 409
    assert "already added as 'demo'" in error_of(r)["message"]

    r = await client.post("/api/v1/agents", json={"url": "http://127.0.0.1:9"})
    assert r.status_code == 502
    err = error_of(r)
    assert (err["code"], err["exit_code"], err["hint"]) == ("agent_unreachable", 6, "is it running?")

    r = await client.post("/api/v1/agents", json={"url": OTHER_URL, "slug": "Not A Slug"})
    assert r.status_code == 422
    assert [f["field"] for f in error_of(r)["fields"]] == ["slug"]
    assert [a.slug for a in services.catalog.list_agents()] == ["demo"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "localhost:18493",
        "ftp://127.0.0.1:1/",
        "http://user:pw@127.0.0.1:1/",
        "http://h/#x",
        "",
        "http://h:99999",
    ],
)
async def test_a_bad_agent_url_is_answered_with_the_rule_an_agent_url_follows(
    client: httpx.AsyncClient, url: str
) -> None:
    """The message `normalise_agent_url` gives (what the CLI says without a running app), not a regex."""
    with pytest.raises(InvalidInputError) as local:
        normalise_agent_url(url)
    r = await client.post("/api/v1/agents", json={"url": url})
    assert r.status_code == 422
    err = error_of(r)
    assert (err["code"], err["exit_code"]) == ("invalid_input", 2)
    assert (err["message"], err["hint"]) == (local.value.message, local.value.hint)
    assert [f["field"] for f in err["fields"]] == ["url"]
    assert not url or url not in err["message"]  # the rule, never the input back


@pytest.mark.asyncio
async def test_an_agent_url_with_spaces_around_it_says_so(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/agents", json={"url": DEMO_URL + " "})
    assert r.status_code == 422
    assert error_of(r)["message"] == "agent URL has spaces or line breaks around it"


@pytest.mark.asyncio
async def test_list_and_show_agents(client: httpx.AsyncClient) -> None:
    await add(client, slug="demo")
    await add(client, OTHER_URL, slug="other")
    r = await client.get("/api/v1/agents")
    assert [a["slug"] for a in r.json()] == ["demo", "other"]
    r = await client.get("/api/v1/agents/other")
    assert r.status_code == 200
    assert r.json()["url"] == OTHER_URL
    r = await client.get("/api/v1/agents/nobody")
    assert r.status_code == 404
    err = error_of(r)
    assert (err["code"], err["exit_code"]) == ("unknown_agent", 3)
    assert err["hint"] == "see `keybroker agents list`"


@pytest.mark.asyncio
async def test_refresh_agent_notices_a_changed_card(
    client: httpx.AsyncClient, services: Services, cards: AgentCards
) -> None:
    before = await add(client, slug="demo")
    r = await client.post("/api/v1/agents/demo/refresh")
    assert r.status_code == 200
    assert r.json()["changed"] is False
    cards.cards[DEMO_URL] = make_card("Demo Agent", demands={"jira": {"name": "Jira", "description": "x"}})
    r = await client.post("/api/v1/agents/demo/refresh")
    data = r.json()
    assert data["changed"] is True
    assert data["previous_fingerprint"] == before["fingerprint"]
    assert data["fingerprint"] != before["fingerprint"]
    assert [d["key"] for d in data["demands"]] == ["jira"]
    assert [e.agent for e in events(services, AuditDecision.AGENT_CHANGED)] == ["demo"]
    assert (await client.post("/api/v1/agents/nobody/refresh")).status_code == 404
    del cards.cards[DEMO_URL]
    assert (await client.post("/api/v1/agents/demo/refresh")).status_code == 502


@pytest.mark.asyncio
async def test_remove_agent_keeps_its_secrets_unless_purged(
    client: httpx.AsyncClient, services: Services, broker: SpyBroker
) -> None:
    await add(client, slug="demo")
    await add(client, OTHER_URL, slug="other")
    kept = (await put(client, "github", "ghp-demo", owner="demo")).json()["secret"]["secret_id"]
    gone = (await put(client, "github", "ghp-other", owner="other")).json()["secret"]["secret_id"]

    r = await client.delete("/api/v1/agents/demo")
    assert r.status_code == 200
    assert r.json() == {"slug": "demo", "secrets_deleted": [], "secrets_kept": [kept]}
    assert services.catalog.find_agent("demo") is None
    assert services.vault.get(kept) is not None

    broker.forgotten.clear()
    r = await client.delete("/api/v1/agents/other", params={"purge": "true"})
    assert r.json() == {"slug": "other", "secrets_deleted": [gone], "secrets_kept": []}
    assert services.vault.get(gone) is None
    assert services.catalog.find_secret_by_id(gone) is None
    assert broker.forgotten == [gone]
    removed = events(services, AuditDecision.AGENT_REMOVED)
    assert [(e.agent, e.caller) for e in removed] == [("demo", UNKNOWN_CALLER), ("other", UNKNOWN_CALLER)]
    assert (await client.delete("/api/v1/agents/other")).status_code == 404


# secrets -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_put_creates_then_replaces_keeping_the_id(
    client: httpx.AsyncClient, services: Services, broker: SpyBroker
) -> None:
    r = await put(client, "OPENAI_KEY", "sk-first", name="OpenAI", description="for tests")
    assert r.status_code == 201
    created = r.json()
    assert created["created"] is True
    secret = created["secret"]
    assert (secret["key"], secret["owner"], secret["name"]) == ("OPENAI_KEY", None, "OpenAI")
    sid = secret["secret_id"]
    assert services.vault.get(sid) == SecretValue("sk-first")

    r = await put(client, "OPENAI_KEY", "sk-second", shared=True)
    assert r.status_code == 200
    assert r.json()["created"] is False
    assert r.json()["secret"]["secret_id"] == sid
    assert services.vault.get(sid) == SecretValue("sk-second")
    assert broker.forgotten == [sid, sid]
    created_ev = events(services, AuditDecision.CREATED)
    updated_ev = events(services, AuditDecision.UPDATED)
    assert [(e.secret_id, e.caller) for e in created_ev] == [(sid, UNKNOWN_CALLER)]
    assert [(e.secret_id, e.caller) for e in updated_ev] == [(sid, UNKNOWN_CALLER)]


@pytest.mark.asyncio
async def test_put_for_an_agent_gives_it_an_always_grant(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add(client, slug="demo")
    r = await put(client, "github", "ghp-x", owner="demo", scheme="bearer")
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert (secret["owner"], secret["scheme"]) == ("demo", "bearer")
    grants = (await client.get("/api/v1/grants")).json()
    assert [(g["agent"], g["scope"], g["key"], g["owner"]) for g in grants] == [
        ("demo", "always", "github", "demo")
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "", "value": "v"}, "key"),
        ({"key": "a\nb", "value": "v"}, "key"),
        ({"key": "k" * 129, "value": "v"}, "key"),
        ({"value": "v"}, "key"),
        ({"key": "K"}, "value"),
        ({"key": "K", "value": 42}, "value"),
        ({"key": "K", "value": "v" * (64 * 1024 + 1)}, "value"),
        ({"key": "K", "value": "v", "owner": "Bad Slug"}, "owner"),
        ({"key": "K", "value": "v", "agent": "demo"}, "agent"),
        ({"key": "K", "value": "v", "name": "n" * 257}, "name"),
        ({"key": "K", "value": "v", "shared": "perhaps"}, "shared"),
    ],
)
async def test_put_validation_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient, services: Services, body: dict[str, Any], field: str
) -> None:
    r = await client.put("/api/v1/secrets", json=body)
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert (err["code"], err["exit_code"]) == ("invalid_input", 2)
    assert field in [f["field"] for f in err["fields"]]
    assert field in err["message"]
    assert services.catalog.list_secrets() == []
    assert services.catalog.unsettled_secrets() == []


@pytest.mark.asyncio
async def test_put_value_of_exactly_64_kib_is_accepted(client: httpx.AsyncClient, services: Services) -> None:
    value = "é" * (32 * 1024)  # 64 KiB of UTF-8 in 32768 characters
    r = await put(client, "BIG", value)
    assert r.status_code == 201
    assert services.vault.get(r.json()["secret"]["secret_id"]) == SecretValue(value)


@pytest.mark.asyncio
async def test_put_refuses_owner_and_shared_together_and_unknown_owners(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add(client, slug="demo")
    r = await put(client, "K", "v", owner="demo", shared=True)
    assert r.status_code == 422
    r = await put(client, "K", "v", owner="nobody")
    assert r.status_code == 404
    assert error_of(r)["code"] == "unknown_agent"
    assert services.catalog.list_secrets() == []


@pytest.mark.asyncio
async def test_malformed_json_and_lone_surrogates_are_422_not_500(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = {"content-type": "application/json"}
    r = await client.put("/api/v1/secrets", content=b'{"key": "K", "value": ', headers=headers)
    assert r.status_code == 422
    r = await client.put("/api/v1/secrets", content=b'{"key": "K", "value": "\xff\xfe"}', headers=headers)
    assert r.status_code == 422
    assert [f["field"] for f in error_of(r)["fields"]] == ["body"]
    r = await client.put("/api/v1/secrets", content=b'{"key": "\\ud800", "value": "v"}', headers=headers)
    assert r.status_code == 422
    assert [f["field"] for f in error_of(r)["fields"]] == ["key"]
    r = await client.put("/api/v1/secrets", content=b'{"key": "K", "value": "\\udfff"}', headers=headers)
    assert r.status_code == 422
    assert [f["field"] for f in error_of(r)["fields"]] == ["value"]
    r = await client.get("/api/v1/secrets/%ED%A0%80")  # the UTF-8 spelling of a lone surrogate
    assert r.status_code in (404, 422)
    assert services.catalog.list_secrets() == []


@pytest.mark.asyncio
async def test_list_secrets_by_owner(client: httpx.AsyncClient) -> None:
    await add(client, slug="demo")
    await put(client, "github", "a", owner="demo")
    await put(client, "github", "b")
    all_keys = [(s["key"], s["owner"]) for s in (await client.get("/api/v1/secrets")).json()]
    assert sorted(all_keys, key=str) == sorted([("github", "demo"), ("github", None)], key=str)
    r = await client.get("/api/v1/secrets", params={"owner": "demo"})
    assert [s["owner"] for s in r.json()] == ["demo"]
    r = await client.get("/api/v1/secrets", params={"shared": "true"})
    assert [s["owner"] for s in r.json()] == [None]
    assert (await client.get("/api/v1/secrets", params={"owner": "nobody"})).status_code == 404
    r = await client.get("/api/v1/secrets", params={"owner": "demo", "shared": "true"})
    assert [s["owner"] for s in r.json()] == ["demo", None]  # what the agent can draw from


@pytest.mark.asyncio
async def test_show_secret_by_id_or_key(client: httpx.AsyncClient) -> None:
    await add(client, slug="demo")
    own = (await put(client, "github", "a", owner="demo")).json()["secret"]["secret_id"]
    shared = (await put(client, "github", "b")).json()["secret"]["secret_id"]

    r = await client.get(f"/api/v1/secrets/{own}")
    assert r.status_code == 200
    detail = r.json()
    assert detail["secret_id"] == own
    assert [(g["agent"], g["scope"]) for g in detail["grants"]] == [("demo", "always")]
    assert "value" not in detail

    r = await client.get("/api/v1/secrets/github")
    assert r.status_code == 409
    err = error_of(r)
    assert err["code"] == "ambiguous_secret"
    assert err["hint"] == "say which with --agent SLUG or --shared"
    r = await client.get("/api/v1/secrets/github", params={"shared": "true"})
    assert r.json()["secret_id"] == shared
    r = await client.get("/api/v1/secrets/github", params={"owner": "demo"})
    assert r.json()["secret_id"] == own
    r = await client.get(f"/api/v1/secrets/{own}", params={"owner": "demo"})
    assert r.json()["secret_id"] == own
    # Both: the agent's own wins, else the shared one (the broker's rule).
    r = await client.get("/api/v1/secrets/github", params={"owner": "demo", "shared": "true"})
    assert r.json()["secret_id"] == own
    await put(client, "slack", "c")
    r = await client.get("/api/v1/secrets/slack", params={"owner": "demo", "shared": "true"})
    assert r.json()["owner"] is None
    assert (await client.get(f"/api/v1/secrets/{own}", params={"shared": "true"})).status_code == 404
    r = await client.get("/api/v1/secrets/nothing")
    assert r.status_code == 404
    assert error_of(r)["code"] == "unknown_secret"


@pytest.mark.asyncio
async def test_keys_with_slashes_and_dots_work_as_path_segments(client: httpx.AsyncClient) -> None:
    sid = (await put(client, "team/../db.password", "v")).json()["secret"]["secret_id"]
    r = await client.get("/api/v1/secrets/team%2F%2E%2E%2Fdb%2Epassword")
    assert r.status_code == 200
    assert r.json()["secret_id"] == sid


@pytest.mark.asyncio
async def test_patch_secret(client: httpx.AsyncClient, services: Services, broker: SpyBroker) -> None:
    sid = (await put(client, "K", "old")).json()["secret"]["secret_id"]
    broker.forgotten.clear()
    r = await client.patch(f"/api/v1/secrets/{sid}", json={"name": "Renamed", "description": "d"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["description"]) == ("Renamed", "d")
    assert services.vault.get(sid) == SecretValue("old")
    assert broker.forgotten == []  # a new name leaves a held value as good as it was
    r = await client.patch("/api/v1/secrets/K", json={"value": "new"})
    assert r.status_code == 200
    assert services.vault.get(sid) == SecretValue("new")
    assert broker.forgotten == [sid]
    details = [e.detail for e in events(services, AuditDecision.UPDATED)]
    assert details == ["changed: name, description", "changed: value"]

    r = await client.patch(f"/api/v1/secrets/{sid}", json={})
    assert r.status_code == 422
    assert "nothing to update" in error_of(r)["message"]
    assert (await client.patch("/api/v1/secrets/nope", json={"name": "x"})).status_code == 404


@pytest.mark.asyncio
async def test_delete_secret(client: httpx.AsyncClient, services: Services, broker: SpyBroker) -> None:
    sid = (await put(client, "K", "v")).json()["secret"]["secret_id"]
    broker.forgotten.clear()
    r = await client.delete(f"/api/v1/secrets/{sid}")
    assert r.status_code == 200
    assert r.json()["secret_id"] == sid
    assert services.vault.get(sid) is None
    assert services.catalog.list_secrets() == []
    assert broker.forgotten == [sid]
    assert [(e.secret_id, e.caller) for e in events(services, AuditDecision.DELETED)] == [
        (sid, UNKNOWN_CALLER)
    ]
    assert (await client.delete(f"/api/v1/secrets/{sid}")).status_code == 404


@pytest.mark.asyncio
async def test_a_secret_another_process_is_writing_is_409_and_left_alone(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    sid = (await put(client, "K", "old-CANARY-v")).json()["secret"]["secret_id"]
    holder = Holder(services.catalog.path, sid, at=clock.now())  # a CLI run mid-write, say
    try:
        for r in (await put(client, "K", "new-CANARY-v"), await client.delete(f"/api/v1/secrets/{sid}")):
            assert r.status_code == 409, r.text
            assert (error_of(r)["code"], error_of(r)["exit_code"]) == ("secret_busy", 2)
            assert "another Keybroker process" in error_of(r)["message"]
    finally:
        holder.exit()
    assert services.vault.get(sid) == SecretValue("old-CANARY-v")
    assert (await put(client, "K", "new-CANARY-v")).status_code == 200


@pytest.mark.asyncio
async def test_a_changed_value_reaches_the_agent_not_the_cached_one(
    client: httpx.AsyncClient, services: Services, broker: SpyBroker
) -> None:
    await add(client, slug="demo")
    sid = (await put(client, "github", "ghp-old", owner="demo")).json()["secret"]["secret_id"]
    agent = services.catalog.get_agent("demo")
    demand = [SecretDemand("github", "GitHub token")]

    first = await broker.fulfil(agent, demand, phase="runtime", task_id="t1", context_id="c1")
    assert first.values["github"] == SecretValue("ghp-old")
    assert "cached=1" in repr(broker)

    assert (await client.patch(f"/api/v1/secrets/{sid}", json={"value": "ghp-new"})).status_code == 200
    second = await broker.fulfil(agent, demand, phase="runtime", task_id="t2", context_id="c1")
    assert second.values["github"] == SecretValue("ghp-new")


# grants and lock ---------------------------------------------------------------------------------


def grant_for(services: Services, clock: FakeClock, slug: str, secret_id: str, scope: GrantScope) -> str:
    grant = make_grant(
        agent=services.catalog.get_agent(slug),
        secret=services.catalog.get_secret(secret_id),
        scope=scope,
        now=clock.now(),
        grant_id=new_grant_id(),
        minutes=5,
        task_id="t",
        context_id="c",
    )
    services.catalog.add_grant(grant)
    return grant.grant_id


@pytest.mark.asyncio
async def test_grants_list_and_revoke(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, broker: SpyBroker
) -> None:
    await add(client, slug="demo")
    await add(client, OTHER_URL, slug="other")
    sid = (await put(client, "github", "v")).json()["secret"]["secret_id"]
    gid = grant_for(services, clock, "demo", sid, GrantScope.MINUTES)
    grant_for(services, clock, "other", sid, GrantScope.UNTIL_LOCK)

    r = await client.get("/api/v1/grants", params={"agent": "demo"})
    assert [(g["grant_id"], g["scope"], g["key"], g["owner"]) for g in r.json()] == [
        (gid, "minutes", "github", None)
    ]
    assert len((await client.get("/api/v1/grants")).json()) == 2
    assert (await client.get("/api/v1/grants", params={"agent": "nobody"})).status_code == 404

    broker.forgotten.clear()
    r = await client.delete(f"/api/v1/grants/{gid}")
    assert r.status_code == 200
    assert r.json()["grant_id"] == gid
    assert broker.forgotten == [sid]
    assert [g["agent"] for g in (await client.get("/api/v1/grants")).json()] == ["other"]
    assert [(e.agent, e.caller) for e in events(services, AuditDecision.REVOKED)] == [
        ("demo", UNKNOWN_CALLER)
    ]
    r = await client.delete(f"/api/v1/grants/{gid}")
    assert r.status_code == 404
    assert error_of(r)["code"] == "unknown_grant"

    clock.advance(6 * 60)  # the MINUTES grant would be over anyway: expired grants are not listed
    assert [g["agent"] for g in (await client.get("/api/v1/grants")).json()] == ["other"]


@pytest.mark.asyncio
@pytest.mark.parametrize("with_broker", [True, False])
async def test_lock_ends_every_grant_short_of_always(
    services: Services, clock: FakeClock, broker: SpyBroker, with_broker: bool
) -> None:
    app = create_api(services, broker if with_broker else None, SecretValue(TOKEN))
    async with make_client(app) as client:
        await add(client, slug="demo")
        own = (await put(client, "github", "v", owner="demo")).json()["secret"]["secret_id"]
        shared = (await put(client, "slack", "v")).json()["secret"]["secret_id"]
        ended = grant_for(services, clock, "demo", shared, GrantScope.UNTIL_LOCK)
        r = await client.post("/api/v1/lock")
        assert r.status_code == 200
        assert r.json() == {"ended": 1, "grant_ids": [ended]}
        left = (await client.get("/api/v1/grants")).json()
    assert [(g["secret_id"], g["scope"]) for g in left] == [(own, "always")]
    assert [e.caller for e in events(services, AuditDecision.LOCKED)] == [UNKNOWN_CALLER]


# audit -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_audit_events_and_filters(
    client: httpx.AsyncClient, services: Services, clock: FakeClock
) -> None:
    await add(client, slug="demo")
    clock.advance(100)
    await put(client, "github", "v", owner="demo")
    await put(client, "slack", "v")
    every = (await client.get("/api/v1/audit")).json()
    assert [e["decision"] for e in every] == ["agent_added", "created", "created"]
    assert [e["seq"] for e in every] == [1, 2, 3]
    by_agent = (await client.get("/api/v1/audit", params={"agent": "demo"})).json()
    assert [e["decision"] for e in by_agent] == ["agent_added", "created"]
    newest = (await client.get("/api/v1/audit", params={"limit": 1})).json()
    assert [e["key"] for e in newest] == ["slack"]
    found = (await client.get("/api/v1/audit", params={"search": "slack"})).json()
    assert [e["key"] for e in found] == ["slack"]
    since = (await client.get("/api/v1/audit", params={"since": clock.now()})).json()
    assert [e["decision"] for e in since] == ["created", "created"]
    for bad in ({"since": "yesterday"}, {"since": "nan"}, {"limit": 0}, {"limit": 10**20}):
        r = await client.get("/api/v1/audit", params=bad)
        assert r.status_code == 422, bad
        assert [f["field"] for f in error_of(r)["fields"]] == list(bad)


@pytest.mark.asyncio
async def test_audit_verify_reports_a_broken_chain(client: httpx.AsyncClient, services: Services) -> None:
    await put(client, "K", "v")
    await put(client, "L", "v")
    r = await client.get("/api/v1/audit/verify")
    assert r.status_code == 200
    assert r.json()["ok"] is True
    assert r.json()["count"] == 2
    with sqlite3.connect(services.paths.catalog_db) as db:
        db.execute("UPDATE audit SET key = 'tampered' WHERE seq = 1")
    r = await client.get("/api/v1/audit/verify")
    assert r.status_code == 200
    report = r.json()
    assert report["ok"] is False
    assert any("edited" in p for p in report["problems"])


# error mapping -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_locked_vault_is_503_with_its_hint(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args: Any, **kwargs: Any) -> None:
        raise VaultLocked("the vault is locked", hint="unlock your keyring")

    monkeypatch.setattr(services.vault, "set", locked)
    r = await put(client, "K", "v")
    assert r.status_code == 503
    err = error_of(r)
    assert (err["code"], err["exit_code"], err["hint"]) == ("vault_locked", 4, "unlock your keyring")
    assert services.catalog.list_secrets() == []


@pytest.mark.asyncio
async def test_catalog_errors_are_500_with_a_clear_message(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full() -> None:
        raise CatalogError("the catalog cannot be written: disk is full", hint="free some disk space")

    monkeypatch.setattr(services.catalog, "list_agents", full)
    r = await client.get("/api/v1/agents")
    assert r.status_code == 500
    err = error_of(r)
    assert (err["code"], err["exit_code"]) == ("catalog", 1)
    assert err["message"] == "the catalog cannot be written: disk is full"


@pytest.mark.asyncio
async def test_an_unforeseen_exception_is_a_json_500_without_traceback(
    client: httpx.AsyncClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom() -> None:
        raise RuntimeError("something internal")

    monkeypatch.setattr(services.catalog, "list_agents", boom)
    r = await client.get("/api/v1/agents")
    assert r.status_code == 500
    err = error_of(r)
    assert (err["code"], err["exit_code"]) == ("internal", 1)
    assert "Traceback" not in r.text
    assert "something internal" not in r.text
    assert any("RuntimeError" in rec.getMessage() for rec in caplog.records)


@pytest.mark.asyncio
async def test_unknown_paths_and_methods_get_json_errors(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    r = await client.post("/api/v1/status")
    assert r.status_code == 405
    assert error_of(r)["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET"
    # Every method of the path, although FastAPI makes one route per method.
    assert (await client.post("/api/v1/secrets/x")).headers["allow"] == "DELETE, GET, PATCH"
    assert (await client.delete("/api/v1/secrets")).headers["allow"] == "GET, PUT"
    assert (await client.put("/api/v1/agents/demo")).headers["allow"] == "DELETE, GET, PATCH"
    r = await client.get("/api/v1/agents/")  # no redirect to the slash-less path
    assert r.status_code == 404
