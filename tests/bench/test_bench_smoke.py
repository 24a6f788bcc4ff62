# SPDX-License-Identifier: Apache-2.0
"""The bridge benchmark runs end to end: `bench/bridge.py --quick --loops --diagnose --baseline` exits 0
and prints its tables.

No timing is asserted (these machines are noisy); what can fail is the plumbing: the echo agent, the
pass-through proxy and the bridge start, every request is answered as expected (the load generator
checks each answer, the bridge's injected secret included), and every process is stopped.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _processes_with_env(entry: str) -> list[int]:
    """Pids of live processes whose environment holds `entry` (Linux; elsewhere none are found)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if entry.encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _run_bench(script: str, args: list[str], tmp_path: Path, timeout: float) -> str:
    """Run bench/`script` with `args`, its scratch dirs under `tmp_path` (its TMPDIR); its output, once it
    exited 0."""
    env = dict(os.environ)
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    return result.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_exits_0_and_prints_the_summary_table(tmp_path: Path) -> None:
    # The benchmark's scratch dir (and its bridge's home) go under tmp_path. --baseline: this very
    # checkout as the "before", so the before/after table is printed too.
    out = _run_bench(
        "bridge.py", ["--quick", "--loops", "--diagnose", "--baseline", str(REPO)], tmp_path, 240
    )
    header = "| workload | c | direct req/s | pass-through req/s | bridge req/s | bridge/direct |"
    assert header in out
    for label in ("message/send (0.3)", "SendMessage (1.0)", "message/stream (0.3)"):
        rows = [line for line in out.splitlines() if line.startswith(f"| {label} | 1 |")]
        assert rows, f"no row for {label} at concurrency 1"
    assert "| fulfil a run-time demand" in out
    # --loops: the bridge on asyncio + h11 beside the one on uvloop + httptools (issue 16).
    assert "| workload | c | uvloop req/s | asyncio req/s | uvloop/asyncio |" in out
    # --diagnose: the bridge without the caller lookup, and without the audit's sync, each measured.
    for name in ("no-caller", "no-sync"):
        table = out[out.index(f"| workload | c | bridge req/s | {name} req/s |") :]
        row = next(line for line in table.splitlines() if line.startswith("| message/stream (0.3) | 1 | "))
        assert "n/a" not in row and row.count("x |") == 2, row
    # --baseline: the before/after table, its ratios measured (this checkout against itself).
    table = out[out.index("| workload | c | bridge/direct | before/direct | bridge/before |") :]
    row = next(line for line in table.splitlines() if line.startswith("| SendMessage (1.0) | 1 | "))
    assert "n/a" not in row and row.count("x |") == 6, row
    assert "Load average (1/5/15 min):" in out
    # Every process it started is gone (they inherited our TMPDIR), and so is its scratch dir.
    assert _processes_with_env(f"TMPDIR={tmp_path}") == []
    assert not list(tmp_path.glob("kb-bench-*"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_gateway_quick_run_exits_0_and_prints_its_tables(tmp_path: Path) -> None:
    """bench/gateway.py (issue 14): LiteLLM proxy and gateway start, every streamed chat is read to the
    mock model's whole reply, the tables print, and both processes are gone afterwards."""
    from tests.peers.process import skip_if_missing

    with skip_if_missing():
        from tests.peers import litellm

        litellm.require_cache(litellm.venv_dir() / "bin" / "litellm", "LiteLLM proxy", litellm.INSTALL)
        out = _run_bench("gateway.py", ["--quick"], tmp_path, 240)
    assert "| concurrency | TTFT added p50 (ms) | throughput gateway/direct |" in out
    for row in ("| direct | 8 |", "| gateway | 8 |"):
        line = next(x for x in out.splitlines() if x.startswith(row))
        assert line.endswith("| 0 |"), line  # no failed request
    assert _processes_with_env(f"TMPDIR={tmp_path}") == []


@pytest.mark.timeout(120)
def test_audit_head_bench_runs_both_writers_on_the_rigs_vault(tmp_path: Path) -> None:
    """bench/audit_head.py: on the rig's Secret Service when the rig runs the tests (else a memory vault),
    both head writers append, each row is printed, and its scratch catalogs are gone afterwards."""
    out = _run_bench("audit_head.py", ["--seconds", "0.4"], tmp_path, 100)
    rows = {line.split(" | ")[0]: line.split(" | ") for line in out.splitlines() if line.startswith("| ")}
    before, paced = rows["| unpaced (before)"], rows["| paced, 1 s"]
    assert int(before[1]) > 20 and int(paced[1]) > 20  # releases appended by each
    assert int(paced[2]) < int(before[2])  # fewer vault writes (the pace is what the app runs)
    assert "saved per release: app" in out
    assert not list(tmp_path.glob("kb-bench-head-*"))


@pytest.mark.timeout(200)
def test_timeline_marks_every_step_of_a_send_and_a_stream(tmp_path: Path) -> None:
    """bench/bridge_timeline.py: the functions it wraps still exist and are still called, so every step
    of a bridged send and stream is marked, in the order a request takes them; its processes are gone."""
    out = _run_bench("bridge_timeline.py", ["-n", "30", "--warmup", "10"], tmp_path, 180)
    for label in ("message/send (0.3)", "message/stream (0.3)"):
        table = out[out.index(f"## {label}") :]
        lines = table.splitlines()
        start = lines.index("| --- | ---: | ---: |") + 1
        table_rows = itertools.takewhile(lambda line: line.startswith("| "), lines[start:])
        rows = [line.split(" | ") for line in table_rows]
        steps = {row[0][2:]: float(row[1]) for row in rows}
        wanted = {"request in", "route", "fast path", "release asked", "commit thread", "commit done"}
        wanted |= {"commit answered", "released", "agent request", "agent head", "client head", "client body"}
        assert wanted <= steps.keys(), (label, sorted(steps))
        assert steps["request in"] == 0 < steps["released"] < steps["agent request"] < steps["client body"]
        assert "audit commit on its thread: median" in table
    assert _processes_with_env(f"TMPDIR={tmp_path}") == []
