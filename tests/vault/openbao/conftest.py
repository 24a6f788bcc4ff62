# SPDX-License-Identifier: Apache-2.0
"""A real `bao server -dev` for the OpenBao backend's tests (scripts/peers/openbao.sh installs it).

One dev server for the session; every test works under its own prefix (and makes its own tokens and
policies), so tests never see each other's entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from keybroker.core.vault.openbao import OpenBaoBackend
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.core.vault.vault import Vault
from tests.peers import openbao
from tests.peers.process import skip_if_missing


@pytest.fixture(scope="session")
def bao() -> Iterator[openbao.DevServer]:
    """The session's dev server (KV v2 at `secret/`, root token)."""
    with skip_if_missing(), openbao.dev_server() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    """This test's own prefix under the mount."""
    return f"kbtest/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def config(bao: openbao.DevServer, prefix: str) -> OpenBaoConfig:
    """A configuration for this test's prefix, failing over quickly (one node)."""
    return OpenBaoConfig(addresses=(bao.url,), prefix=prefix, install="laptop-1", failover_seconds=3.0)


_OPEN: list[OpenBaoBackend | Vault] = []


def make_backend(config: OpenBaoConfig, **kwargs: Any) -> OpenBaoBackend:
    """`OpenBaoBackend(config, **kwargs)`, closed when the test ends."""
    backend = OpenBaoBackend(config, **kwargs)
    _OPEN.append(backend)
    return backend


def backend_for(config: OpenBaoConfig, token: str, **kwargs: Any) -> OpenBaoBackend:
    """A backend logged in with `token` (given as BAO_TOKEN, nothing read from the OS vault); closed
    when the test ends."""
    return make_backend(config, environ={"BAO_TOKEN": token}, **kwargs)


def vault_for(backend: OpenBaoBackend) -> Vault:
    """A `Vault` over `backend`, with the timeout open_vault gives an OpenBao vault; closed at the end."""
    vault = Vault(backend, timeout=backend.config.failover_seconds + backend.config.request_timeout + 1)
    _OPEN.append(vault)
    return vault


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close the backends and vaults a test made (their kept-open connections)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def root_backend(bao: openbao.DevServer, config: OpenBaoConfig) -> Iterator[OpenBaoBackend]:
    """A backend with the root token."""
    backend = backend_for(config, bao.token)
    yield backend
    backend.close()


def put_policy(bao: openbao.DevServer, name: str, hcl: str) -> None:
    """Write an ACL policy."""
    with bao.client() as client:
        response = client.put(f"/v1/sys/policies/acl/{name}", json={"policy": hcl})
        assert response.status_code == 204, response.text


def make_token(bao: openbao.DevServer, *policies: str, ttl: str = "1h", renewable: bool = True) -> str:
    """A new token with `policies` (plus `default`, which lets a token look itself up)."""
    with bao.client() as client:
        body = {"policies": list(policies), "ttl": ttl, "renewable": renewable}
        response = client.post("/v1/auth/token/create", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["auth"]["client_token"])


def kv_put(bao: openbao.DevServer, path: str, **fields: str) -> int:
    """Write a KV v2 secret as an admin would (`bao kv put secret/<path> k=v`); returns its version."""
    with bao.client() as client:
        response = client.post(f"/v1/secret/data/{path}", json={"data": fields})
        assert response.status_code == 200, response.text
        return int(response.json()["data"]["version"])


def kv_get(bao: openbao.DevServer, path: str) -> httpx.Response:
    """Read a KV v2 secret with the root token."""
    with bao.client() as client:
        return client.get(f"/v1/secret/data/{path}")
