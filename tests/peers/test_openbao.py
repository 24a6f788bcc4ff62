# SPDX-License-Identifier: Apache-2.0
"""OpenBao peer smoke tests: a dev server answers KV v2 (httpx and hvac), a raft cluster re-elects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.peers import openbao
from tests.peers.process import skip_if_missing

HVAC_CHECK = Path(__file__).with_name("hvac_check.py")


def test_dev_server_kv_v2_with_httpx_and_hvac() -> None:
    with skip_if_missing(), openbao.dev_server() as bao:
        with bao.client() as client:
            body = {"data": {"k": "v"}, "options": {"cas": 0}}
            written = client.post("/v1/secret/data/kb/httpx", json=body)
            assert written.status_code == 200, written.text
            read = client.get("/v1/secret/data/kb/httpx")
            assert read.json()["data"]["data"] == {"k": "v"}
        result = subprocess.run(
            [str(openbao.peer_python()), str(HVAC_CHECK), bao.url, bao.token, "kb/hvac"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["authenticated"] is True
        assert report["versions"] == [1, 2]
        assert "check-and-set parameter did not match the current version" in report["stale_cas_error"]
        assert report["read"] == {"api_key": "two"}


@pytest.mark.slow  # ~15 s: 7 s to form the cluster, 1-6 s to re-elect
def test_raft_cluster_elects_a_new_leader_and_takes_a_node_back(tmp_path: Path) -> None:
    with skip_if_missing(), openbao.raft_cluster(workdir=tmp_path / "raft") as cluster:
        with cluster.client() as client:
            openbao.enable_kv_v2(client)
            assert client.post("/v1/secret/data/a", json={"data": {"n": "1"}}).status_code == 200
        old, new, took = cluster.kill_leader()
        assert new is not old
        assert took < 20, f"re-election took {took:.1f} s"
        print(f"raft: {old.node_id} killed, {new.node_id} leads after {took:.1f} s")
        with cluster.client(new) as client:
            assert client.get("/v1/secret/data/a").json()["data"]["data"] == {"n": "1"}
            assert client.post("/v1/secret/data/a", json={"data": {"n": "2"}}).status_code == 200
        cluster.restart(old)
        # The restarted node catches up and forwards to the leader; it is a voter again.
        with cluster.client(old) as client:
            assert client.get("/v1/secret/data/a").json()["data"]["data"] == {"n": "2"}
        assert {s["node_id"] for s in cluster.voters() if s["voter"]} == {n.node_id for n in cluster.nodes}
