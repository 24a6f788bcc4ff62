# SPDX-License-Identifier: Apache-2.0
"""The management API's write races (tests/api/test_write_races.py) with the values on a real OpenBao:
the per-secret write lock and the catalog's claims hold for a team vault's writes too, so a PUT racing a
DELETE, or two creates of one new key, answer cleanly (success, 404 or 409; never a 500 or an OpenBao
check-and-set conflict) and leave no value in OpenBao that no catalog row names."""

# The race tests and their `api` fixture are imported by name; `services` is defined here over OpenBao.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.wiring.services import Services, open_services
from tests.api.test_write_races import (  # noqa: F401 - the tests and fixtures are used by name
    api,
    test_put_racing_delete_answers_cleanly_and_leaves_nothing_behind,
    test_two_creates_of_one_new_key_answer_one_winner_and_a_replace_or_409,
)
from tests.peers.openbao import DevServer
from tests.vault.openbao.conftest import backend_for, vault_for


@pytest.fixture
def services(tmp_path: Path, bao: DevServer, config: OpenBaoConfig) -> Iterator[Services]:
    svc = open_services(
        environ={"KEYBROKER_HOME": str(tmp_path / "home")},
        vault=vault_for(backend_for(config, bao.token)),
    )
    yield svc
    svc.close()
