# SPDX-License-Identifier: Apache-2.0
"""The official A2A TCK (a2aproject/a2a-tck, branch 0.3.x) against real agents, directly and bridged.

    python bench/tck.py --tck DIR --tck-python PYTHON [--agents echo,agentstack]
                        [--categories mandatory,capabilities] [--out DIR]

DIR is an extracted 0.3.x tree of the TCK (`git --git-dir=<mirror> archive 0.3.x | tar -x -C DIR`);
PYTHON is a venv with its requirements (`pip install -e DIR`). CI cannot fetch it, so this is not part
of `make test`: tests/bridge and tests/interop keep what it found (issue 18).

For each agent (`echo`: the plain a2a-sdk 1.x agent of tests/interop/agents; `agentstack`: the
agentstack-sdk 0.7.1 agent on a2a-sdk 0.3, run by `$KEYBROKER_PEER_PYTHON`) it starts the agent, a
real `keybroker serve --headless` over a session-only vault in a scratch home, and adds the agent
with `keybroker agents add URL --port N` (the agent's own loopback port, where it is the root: the
TCK looks for the card only at a host's root). The agentstack agent's demands get values owned by
it (an *always* grant), so no prompt shows. Then it runs each TCK category against the agent's URL
and against `http://127.0.0.1:N/`, and prints the counts side by side, then every test whose outcome
differs. The TCK's JSON reports are copied to `--out` (default: a temporary directory).
Never asserts: it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ROOT / "tests" / "interop" / "agents"
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "error")
#: Values for the agentstack agent's demands (canaries: never real credentials).
DEMAND_VALUES = {"github": "ghp_TCK_CANARY_0123456789", "slack": "xoxb-TCK-CANARY-4242"}
#: One TCK category may take this long before it is stopped and reported as a timeout.
RUN_LIMIT = 1800.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_card(url: str, proc: subprocess.Popen[bytes], limit: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process ended (rc {proc.returncode})")
        try:
            if httpx.get(url + "/.well-known/agent-card.json", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url}: no card after {limit:.0f} s")


def start_agent(kind: str, logs: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if kind == "echo":
        argv = [sys.executable, str(AGENTS / "echo_a2a1_agent.py"), str(port)]
    else:
        python = os.environ.get("KEYBROKER_PEER_PYTHON")
        if not python:
            raise SystemExit("KEYBROKER_PEER_PYTHON must name the agentstack peer venv's python")
        argv = [python, str(AGENTS / "agentstack_secret_agent.py"), str(port)]
    log = (logs / f"agent-{kind}.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_card(url, proc)
    return proc, url


def keybroker_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, KEYBROKER_HOME=str(home), KEYBROKER_VAULT="memory")
    env["PYTHONPATH"] = str(ROOT / "desktop")
    return env


def keybroker(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "keybroker", *args], env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"keybroker {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def start_bridge(env: dict[str, str], logs: Path) -> subprocess.Popen[str]:
    log = (logs / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "keybroker", "serve", "--headless", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        log.write(line)
        if line.startswith("listening on "):
            return proc
    raise SystemExit(f"keybroker serve did not start (rc {proc.wait()}); see {logs / 'serve.log'}")


def run_tck(tck: Path, python: str, url: str, categories: list[str], out: Path) -> dict[str, dict[str, Any]]:
    """Every TCK category against `url` (`--category all`, which writes a JSON report per category):
    each asked-for report (copied into `out`), or a stand-in saying why there is none."""
    reports = {c: tck / "reports" / f"{c}_results.json" for c in categories}
    for report in reports.values():
        report.unlink(missing_ok=True)
    # With a compliance report, run_tck.py keeps the per-category JSON reports instead of deleting them.
    argv = [
        python,
        "run_tck.py",
        "--sut-url",
        url,
        "--category",
        "all",
        "--compliance-report",
        "compliance.json",
    ]
    env = dict(os.environ, PYTHONPATH=str(tck))
    env.pop("KEYBROKER_HOME", None)
    try:
        done = subprocess.run(argv, cwd=tck, env=env, capture_output=True, timeout=RUN_LIMIT, check=False)
        (out / "run_tck.log").write_bytes(done.stdout + done.stderr)
    except subprocess.TimeoutExpired:
        return {c: {"summary": {"timeout": 1}, "tests": []} for c in categories}
    results: dict[str, dict[str, Any]] = {}
    for category, report in reports.items():
        if not report.exists():
            results[category] = {"summary": {"no_report": 1}, "tests": []}
            continue
        shutil.copy(report, out / report.name)
        results[category] = json.loads(report.read_text())
    return results


def counts(data: dict[str, Any]) -> str:
    summary = data.get("summary", {})
    extra = [k for k in ("timeout", "no_report") if k in summary]
    if extra:
        return extra[0]
    return "/".join(str(summary.get(k, 0)) for k in OUTCOMES)


def outcomes(data: dict[str, Any]) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in data.get("tests", [])}


def reason(data: dict[str, Any], nodeid: str) -> str:
    """The first line of the failure's message, shortened."""
    for test in data.get("tests", []):
        if test["nodeid"] == nodeid:
            for phase in ("call", "setup"):
                crash = test.get(phase, {}).get("crash") or {}
                if crash.get("message"):
                    line: str = crash["message"].splitlines()[0]
                    return line[:160]
    return ""


def run_agent(
    kind: str, args: argparse.Namespace, out: Path
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    logs = out / kind
    logs.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"tck-{kind}-home-"))
    env = keybroker_env(home)
    agent, url = start_agent(kind, logs)
    bridge = start_bridge(env, logs)
    try:
        own = free_port()
        keybroker(env, "agents", "add", url, "--slug", kind, "--port", str(own))
        if kind == "agentstack":
            for key, value in DEMAND_VALUES.items():
                keybroker(env, "secrets", "set", key, "--agent", kind, stdin=value)
        bridged = f"http://127.0.0.1:{own}"
        wait_for_card(bridged, agent)
        categories = args.categories.split(",")
        runs = {}
        for target, sut in (("direct", url), ("bridged", bridged)):
            print(f"[{kind}] TCK against {sut} ({target}) ...", file=sys.stderr, flush=True)
            (logs / target).mkdir(exist_ok=True)
            runs[target] = run_tck(args.tck, args.tck_python, sut, categories, logs / target)
        return [(c, runs["direct"][c], runs["bridged"][c]) for c in categories]
    finally:
        for proc in (bridge, agent):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tck", type=Path, required=True, help="an extracted a2a-tck 0.3.x tree")
    parser.add_argument("--tck-python", required=True, help="python of a venv with the TCK's requirements")
    parser.add_argument("--agents", default="echo,agentstack")
    parser.add_argument("--categories", default="mandatory,capabilities")
    parser.add_argument("--out", type=Path, default=None, help="where the TCK's JSON reports are copied")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="tck-"))
    table: list[str] = []
    diffs: list[str] = []
    for kind in args.agents.split(","):
        for category, direct, through in run_agent(kind, args, out):
            table.append(f"{kind:<11} {category:<22} {counts(direct):<18} {counts(through):<18}")
            before, after = outcomes(direct), outcomes(through)
            for nodeid in sorted(set(before) | set(after)):
                if before.get(nodeid) != after.get(nodeid):
                    why = reason(through, nodeid) or reason(direct, nodeid)
                    diffs.append(
                        f"{kind} {category} {nodeid}: {before.get(nodeid, '-')} -> {after.get(nodeid, '-')}"
                        + (f"  [{why}]" if why else "")
                    )
    print(f"TCK reports: {out}")
    print(f"{'agent':<11} {'category':<22} {'direct':<18} {'bridged':<18}  (" + "/".join(OUTCOMES) + ")")
    print("\n".join(table))
    print(f"\n{len(diffs)} tests differ (direct -> bridged):")
    print("\n".join(diffs) if diffs else "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
