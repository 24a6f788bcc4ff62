# SPDX-License-Identifier: Apache-2.0
"""Writes to one secret racing each other through the real management API, on the real Secret Service.

Two clients of a uvicorn-served API (threads, as two scripts would be): one PUTs a key over and over
while the other DELETEs it; two PUTs create the same new key at once. Every answer is a success, a
clean 404 (the delete came first) or a clean 409 (the other writer holds it); never a 500. No value is
left in the vault without a catalog row, and the catalog and the vault agree at the end.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from keybroker.core.api.app import create_api
from keybroker.core.broker.broker import Broker
from keybroker.core.broker.prompts import DecliningPrompter
from keybroker.core.models import SecretValue
from keybroker.wiring.services import Services, open_services
from tests.api.test_api_client import ThreadedServer, guarded
from tests.vault import secret_service as rig

_PROBLEM = rig.rig_problem()
pytestmark = [pytest.mark.secret_service, pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")]

TOKEN = "api-race-token-0c41"
VALUE = "race-CANARY-value-7f1e"
ROUNDS = 60


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(environ={"KEYBROKER_HOME": str(tmp_path / "home"), "KEYBROKER_VAULT": "system"})
    yield svc
    for record in svc.catalog.list_secrets():
        svc.vault.delete(record.secret_id)
    svc.close()


@pytest.fixture
def api(services: Services) -> Iterator[str]:
    broker = Broker.from_services(services, DecliningPrompter("no prompts here"))
    with ThreadedServer(guarded(create_api(services, broker, SecretValue(TOKEN)))) as server:
        yield f"http://127.0.0.1:{server.port}/api/v1"


def _client(base: str) -> httpx.Client:
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, trust_env=False, timeout=60.0
    )


def _together(*loops: Callable[[], None]) -> None:
    """Run the loops on threads that start at the same moment."""
    start = threading.Barrier(len(loops))
    errors: list[BaseException] = []

    def run(loop: Callable[[], None]) -> None:
        start.wait()
        try:
            loop()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(loop,)) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def _ours(services: Services) -> set[str]:
    """Accounts of secrets in the vault, found by the vault's own search (the rig's keyring is shared by
    the session; tests/vault/openbao/test_write_races.py runs these tests over OpenBao)."""
    return {a for a in services.vault.accounts() or () if a.startswith("sec_")}


def _orphans(services: Services, before: set[str]) -> set[str]:
    rows = {r[0] for r in services.catalog.query("SELECT secret_id FROM secrets")}
    return (_ours(services) - before) - rows


def test_put_racing_delete_answers_cleanly_and_leaves_nothing_behind(services: Services, api: str) -> None:
    before = _ours(services)
    puts: Counter[int] = Counter()
    deletes: Counter[int] = Counter()
    bodies: list[str] = []
    done = threading.Event()

    def put_loop() -> None:
        with _client(api) as client:
            for i in range(ROUNDS):
                r = client.put("/secrets", json={"key": "RACED", "value": f"{VALUE}-{i}"})
                puts[r.status_code] += 1
                if r.status_code >= 500:
                    bodies.append(r.text)
        done.set()

    def delete_loop() -> None:
        with _client(api) as client:
            while not done.is_set():
                r = client.delete("/secrets/RACED", params={"shared": "true"})
                deletes[r.status_code] += 1
                if r.status_code >= 500:
                    bodies.append(r.text)

    _together(put_loop, delete_loop)
    assert set(puts) <= {200, 201, 409}, (puts, bodies[:3])
    assert set(deletes) <= {200, 404, 409}, (deletes, bodies[:3])
    assert puts[200] + puts[201] > 0 and deletes[200] > 0  # they did race
    assert _orphans(services, before) == set()
    rows = services.catalog.list_secrets(key="RACED")
    assert services.catalog.unsettled_secrets() == []
    for record in rows:  # whatever is listed has its value; nothing else of the key is in the vault
        assert services.vault.get(record.secret_id) is not None
    assert VALUE not in "".join(bodies)


def test_two_creates_of_one_new_key_answer_one_winner_and_a_replace_or_409(
    services: Services, api: str
) -> None:
    before = _ours(services)
    for run in range(6):
        key = f"NEW_{run}"
        answers: list[httpx.Response] = []

        def create(n: int, key: str = key, answers: list[httpx.Response] = answers) -> Callable[[], None]:
            def go() -> None:
                with _client(api) as client:
                    answers.append(client.put("/secrets", json={"key": key, "value": f"{VALUE}-{n}"}))

            return go

        _together(create(1), create(2))
        statuses = sorted(r.status_code for r in answers)
        assert statuses in ([200, 201], [201, 409]), [r.text for r in answers]
        ids = {r.json()["secret"]["secret_id"] for r in answers if r.status_code < 300}
        assert len(ids) == 1  # a replace keeps the winner's secret_id
        (record,) = services.catalog.list_secrets(key=key)
        assert record.secret_id in ids
    assert _orphans(services, before) == set()
