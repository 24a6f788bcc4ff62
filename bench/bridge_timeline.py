# SPDX-License-Identifier: Apache-2.0
"""Where one bridged request's wall-clock time goes, step by step, at concurrency 1 (issue 16).

    python bench/bridge_timeline.py                      # 500 requests each: send03, stream03
    python bench/bridge_timeline.py -n 1000 --workload send10,stream10

bench/bridge.py says how much later than direct an answer or a first event comes; this says where
that time goes. It runs the bridge in this process as bench/bridge_profile.py does (Keybroker's
`Runtime` over a memory vault, the echo agent and the load generator as children, pinned the same
way), marks the moment each step of a request begins (time.perf_counter_ns, a few hundred ns a mark,
by wrapping the functions named below), and prints for each step the median time since the request's
bytes arrived, and the median time of the audit commit on its thread:

- `request in`: the connection reads the request (connections.py);
- `route`: app.py's agent JSON-RPC route starts (uvicorn has parsed it and started its task);
- `fast path`: fast_path.py takes it (guard, agent lookup and channel done);
- `release asked`, `released`: the one broker call of fast_grant.py, durable audit commit included;
- `commit thread`, `commit done`, `commit answered`: the group commit's transaction starts and ends on
  its thread, and its answer reaches the loop (audit/group.py);
- `agent request`: the request is written to the agent (lean_connection.py);
- `agent head`, `agent body`: the agent's answer head, and its first body bytes (streams);
- `client head`, `client body`: the bridge's answer to its client (rpc_route.py), its head and its
  first body bytes (for a stream, the first event).

The agent's own time lies between `agent request` and `agent head`/`agent body`; the rest is the
bridge's. Wall-clock figures on a shared machine move from run to run: compare steps within a run.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Before a2a-sdk is imported (Runtime.start sets it too).
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from bridge_common import SLUG
from bridge_procs import LoadGenerator, cpu_plan, loadavg, run_in_process
from bridge_profile import _BY_NAME, measure
from bridge_server import bench_runtime

from keybroker.core.audit import group
from keybroker.core.bridge import app, connections, fast_grant, fast_path, lean_connection, rpc_route

FIRST = "request in"
#: Every step marked (the table lists them in the order they came).
STEPS = (
    FIRST,
    "route",
    "fast path",
    "release asked",
    "commit thread",
    "commit done",
    "commit answered",
    "released",
    "client head",
    "agent request",
    "agent head",
    "agent body",
    "client body",
)


class Marks:
    """The moments each step began, request by request (concurrency 1: one request at a time)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, int]] = []
        self.commits: list[float] = []
        self.on = False

    def mark(self, step: str) -> None:
        if not self.on:
            return
        if step == FIRST:
            self.requests.append({})
        if self.requests:
            self.requests[-1].setdefault(step, time.perf_counter_ns())

    def table(self) -> list[tuple[str, float, int]]:
        """(step, median µs since `request in`, requests that took it), in the order they came."""
        rows: list[tuple[str, float, int]] = []
        for step in STEPS:
            since = [(r[step] - r[FIRST]) / 1e3 for r in self.requests if step in r and FIRST in r]
            if since:
                rows.append((step, statistics.median(since), len(since)))
        return sorted(rows, key=lambda row: row[1])


def _before(owner: Any, name: str, marks: Marks, step: str, when: Callable[..., bool] | None = None) -> None:
    """Mark `step` each time `owner.name` (a plain function) is called (and `when(*args)` holds)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if when is None or when(*args):
            marks.mark(step)
        return original(*args, **kwargs)

    setattr(owner, name, wrapped)


def instrument(marks: Marks) -> None:
    """Wrap the functions each step starts in (module docstring)."""
    _before(connections._Governed, "data_received", marks, FIRST, lambda _, data: data.startswith(b"POST"))
    _before(app.BridgeApp, "_rpc", marks, "route")
    _before(fast_path.FastPath, "serve", marks, "fast path")
    _before(fast_grant, "_release", marks, "release asked")
    _before(group.GroupCommit, "_committed", marks, "commit answered")
    _before(lean_connection.LeanConnection, "_send", marks, "agent request")
    _before(lean_connection.LeanConnection, "on_headers_complete", marks, "agent head")
    _before(lean_connection.LeanStream, "_feed", marks, "agent body")
    _before(lean_connection.LeanConnection, "on_body", marks, "agent body")

    release = fast_grant._release

    @functools.wraps(release)
    async def timed_release(*args: Any, **kwargs: Any) -> Any:
        try:
            return await release(*args, **kwargs)
        finally:
            marks.mark("released")

    fast_grant._release = timed_release  # type: ignore[assignment]

    commit = group.GroupCommit._commit

    @functools.wraps(commit)
    def timed_commit(self: group.GroupCommit, batch: Any) -> None:
        marks.mark("commit thread")
        started = time.perf_counter_ns()
        try:
            commit(self, batch)
        finally:
            if marks.on:
                marks.commits.append((time.perf_counter_ns() - started) / 1e3)
            marks.mark("commit done")

    setattr(group.GroupCommit, "_commit", timed_commit)  # noqa: B010 - a method, replaced

    def answered(send: Any) -> Any:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                marks.mark("client head")
            elif message.get("body"):
                marks.mark("client body")
            await send(message)

        return sending

    sent, kept_alive = rpc_route._sent, rpc_route.kept_alive

    async def timed_sent(answer: Any, send: Any) -> None:
        await sent(answer, answered(send))

    async def timed_kept_alive(app_: Any, scope: Any, receive: Any, send: Any, interval: float) -> None:
        await kept_alive(app_, scope, receive, answered(send), interval)

    rpc_route._sent = timed_sent  # type: ignore[assignment]
    rpc_route.kept_alive = timed_kept_alive  # type: ignore[assignment]


async def timeline_all(args: argparse.Namespace, load: LoadGenerator, agent_url: str, marks: Marks) -> None:
    home = Path(tempfile.mkdtemp(prefix="kb-timeline-"))
    environ = dict(os.environ, KEYBROKER_HOME=str(home / "home"))
    try:
        async with bench_runtime(agent_url, environ) as runtime:
            assert runtime.port is not None
            for name in args.workload.split(","):
                workload = _BY_NAME[name]
                job = dict(workload.job("bridge", runtime.port, f"/agents/{SLUG}"), concurrency=1)
                await measure(load, job, args.warmup)
                marks.requests.clear()
                marks.commits.clear()
                marks.on = True
                try:
                    result, _, _ = await measure(load, job, args.n)
                finally:
                    marks.on = False
                if result["errors"] or not result["n"]:
                    raise RuntimeError(f"{name}: {result['errors']} failed: {result['first_error']}")
                print(f"\n## {workload.label}, c=1: {len(marks.requests)} requests (load {loadavg()})")
                if marks.commits:
                    print(f"audit commit on its thread: median {statistics.median(marks.commits):.0f} µs")
                print(f"| step | µs since `{FIRST}` (median) | requests |\n| --- | ---: | ---: |")
                for step, since, count in marks.table():
                    print(f"| {step} | {since:.0f} | {count} |")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-n", type=int, default=500, help="requests per workload (default 500)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up requests (default 100)")
    parser.add_argument(
        "--workload", default="send03,stream03", help=f"comma-separated: {', '.join(_BY_NAME)}"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the agent and the bridge")
    args = parser.parse_args(argv)
    if any(w not in _BY_NAME for w in args.workload.split(",")) or min(args.n, args.warmup) < 1:
        parser.error(f"--workload takes {', '.join(_BY_NAME)}; -n and --warmup at least 1")
    plan = cpu_plan(not args.no_pin)
    if plan.server is not None:
        os.sched_setaffinity(0, {plan.server})
    print(f"# bridge timeline ({time.strftime('%Y-%m-%d %H:%M:%S')}), load average {loadavg()}")
    print(f"{plan.description} (the bridge runs in this process)")
    marks = Marks()
    instrument(marks)
    return run_in_process(
        plan, "timeline", lambda load, agent_url: timeline_all(args, load, agent_url, marks)
    )


if __name__ == "__main__":
    sys.exit(main())
