# SPDX-License-Identifier: Apache-2.0
"""Where the bridge spends its CPU on a send or a stream: cProfile over N requests, per request.

    python bench/bridge_profile.py                   # 2000 sends each: message/send (0.3), SendMessage (1.0)
    python bench/bridge_profile.py -n 500 --top 40 --workload send10
    python bench/bridge_profile.py --save /tmp/p     # also /tmp/p-send03.pstats etc. (python -m pstats)
    python bench/bridge_profile.py --workload fulfil # a run-time demand answered from a grant (0.3 send)
    python bench/bridge_profile.py --workload stream10  # streams: stream03, stream10

Wall-clock timing is noisy on a shared machine; CPU time and call counts are not. So this runs the
bridge *in this process* (Keybroker's `Runtime` as `keybroker serve` runs it, over a memory vault,
set up like bench/bridge_server.py: the echo agent added, its values stored under an owner's *always*
grant, so every send runs the pre-flight path and no prompt shows; `fulfil`: the agent asks for its
run-time key and the bridge resumes the task from that grant), the echo agent
(bench/bridge_agent.py) and the load generator (bench/bridge_load.py) as children, and per workload:

1. a warm-up (`--warmup` sends: imports, the agent's channel, caches);
2. N sends unprofiled, in `--batches` batches: the process's CPU time (all threads) per request, the
   least and the median over batches (other work on the machine only adds to it: compare the least);
3. N sends under cProfile, timed by the thread's CPU clock (`--wall`: wall-clock), event loop thread
   only (worker threads are not profiled): the functions with the most self time and the most
   cumulative time, with calls and microseconds per request. cProfile counts each resumption of a
   coroutine as a call, and its own overhead inflates every figure about twofold: compare profiles
   with profiles, and the unprofiled CPU time with the unprofiled one.

Concurrency 1 (`-c` to change it). Every answer is checked like the benchmark does: HTTP 200, the
agent saw the injected value, and the value is masked in what came back. The agent is pinned to the
first CPU and this process to the second when there are two (`--no-pin`: neither).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Before a2a-sdk is imported (Runtime.start sets it too).
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from bridge_common import SLUG
from bridge_procs import LoadGenerator, cpu_plan, loadavg, run_in_process
from bridge_server import bench_runtime
from bridge_workloads import FULFIL, WORKLOADS, fulfil_job

_BY_NAME = {w.name: w for w in WORKLOADS}
_NAMES = [*_BY_NAME, FULFIL]
_FULFIL_LABEL = "run-time demand fulfilled from a grant, message/send (0.3)"


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a builtin: "<method 'join' of 'str' objects>"
    parts = Path(filename).parts
    for anchor in ("site-packages", "keybroker", "lib"):
        if anchor in parts:
            at = len(parts) - 1 - parts[::-1].index(anchor)
            short = "/".join(parts[at + 1 :] if anchor != "keybroker" else parts[at:])
            break
    else:
        short = "/".join(parts[-2:])
    return f"{short}:{line}({name})"


def print_top(stats: pstats.Stats, n: int, top: int, key: str, say: Any) -> None:
    """The `top` functions by self ("tottime") or cumulative ("cumtime") time, per request."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda item: item[1][2 if key == "tottime" else 3], reverse=True)
    say(f"  {'calls/req':>9} {'self us/req':>11} {'cum us/req':>10}  function   (top {top} by {key})")
    for func, (_cc, nc, tt, ct, _callers) in rows[:top]:
        say(f"  {nc / n:9.2f} {tt * 1e6 / n:11.1f} {ct * 1e6 / n:10.1f}  {_where(func)}")


def _check(result: dict[str, Any], what: str) -> None:
    if not result["n"] or result["errors"]:
        raise RuntimeError(f"{what}: {result['errors']} failed, {result['n']} good: {result['first_error']}")


async def measure(load: LoadGenerator, job: dict[str, Any], n: int) -> tuple[dict[str, Any], float, float]:
    """Run `n` requests; (result, process CPU s, event loop thread CPU s)."""
    job = dict(job, warmup=0.0, duration=3600.0, max_requests=n, min_requests=n)
    cpu0, thread0 = time.process_time(), time.thread_time()
    # The load generator is driven from a worker thread (it blocks on a pipe, nearly no CPU), so the
    # loop thread is free to serve the bridge.
    result = await asyncio.to_thread(load.run, job)
    return result, time.process_time() - cpu0, time.thread_time() - thread0


async def measure_batches(
    load: LoadGenerator, job: dict[str, Any], n: int, batches: int
) -> tuple[dict[str, Any], list[float]]:
    """`n` requests in `batches` runs; (the last result, process CPU ms per request of each batch).

    Other work on the machine only ever adds CPU time (cache misses, a shared core), so the least
    per-batch figure is the steadiest one to compare between runs.
    """
    size = max(1, n // batches)
    per_request: list[float] = []
    result: dict[str, Any] = {}
    for _ in range(batches):
        result, cpu, _ = await measure(load, job, size)
        _check(result, "batch")
        per_request.append(cpu * 1000 / max(result["completed"], 1))
    return result, per_request


async def profile_all(args: argparse.Namespace, load: LoadGenerator, agent_url: str, say: Any) -> None:
    home = Path(tempfile.mkdtemp(prefix="kb-profile-"))
    environ = dict(os.environ, KEYBROKER_HOME=str(home / "home"))
    try:
        async with bench_runtime(agent_url, environ) as runtime:
            assert runtime.port is not None
            port = runtime.port
            for name in args.workload.split(","):
                path = f"/agents/{SLUG}"
                if name == FULFIL:
                    label, job = _FULFIL_LABEL, fulfil_job("bridge", port, path, False)
                else:
                    label, job = _BY_NAME[name].label, _BY_NAME[name].job("bridge", port, path)
                job["concurrency"] = args.concurrency
                result, _, _ = await measure(load, job, args.warmup)
                _check(result, f"{name} warm-up")
                result, batch_cpu = await measure_batches(load, job, args.n, args.batches)
                say(f"\n## {label}, c={args.concurrency}: {args.n} requests")
                say(
                    f"unprofiled: process CPU {min(batch_cpu):.3f} ms/req least of {len(batch_cpu)} batches, "
                    f"median {statistics.median(batch_cpu):.3f}; last batch {result['rps']:.0f} req/s, "
                    f"p50 {result['p50']:.2f} ms  (load {loadavg()})"
                )
                # CPU time of this thread, not wall-clock: waits (epoll, the agent) must not count.
                profiler = cProfile.Profile(time.perf_counter if args.wall else time.thread_time)
                profiler.enable()
                try:
                    result, cpu, _ = await measure(load, job, args.n)
                finally:
                    profiler.disable()
                _check(result, f"{name} profiled")
                done = max(result["completed"], 1)
                stats = pstats.Stats(profiler)
                total: float = stats.total_tt  # type: ignore[attr-defined]
                calls: int = stats.total_calls  # type: ignore[attr-defined]
                say(
                    f"profiled:   {total * 1000 / done:.3f} ms/req in profiled functions, "
                    f"{calls / done:.0f} function calls/req (process CPU {cpu * 1000 / done:.3f} ms/req)"
                )
                if args.save:
                    path = f"{args.save}-{name}.pstats"
                    stats.dump_stats(path)
                    say(f"stats written to {path}")
                say("\nby self time:")
                print_top(stats, done, args.top, "tottime", say)
                say("\nby cumulative time:")
                print_top(stats, done, args.top, "cumtime", say)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000, help="requests per measurement (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests (default 200)")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--workload", default="send03,send10", help=f"comma-separated: {', '.join(_NAMES)}")
    parser.add_argument("--batches", type=int, default=10, help="unprofiled batches (default 10)")
    parser.add_argument("--top", type=int, default=30, help="functions listed per table (default 30)")
    parser.add_argument("--save", metavar="PREFIX", help="write PREFIX-<workload>.pstats")
    parser.add_argument("--wall", action="store_true", help="profile wall-clock time, not thread CPU time")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the agent and the bridge")
    args = parser.parse_args(argv)
    if any(w not in _NAMES for w in args.workload.split(",")) or min(args.n, args.warmup, args.batches) < 1:
        parser.error(f"--workload takes {', '.join(_NAMES)}; -n, --warmup, --batches at least 1")

    def say(text: str = "") -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    plan = cpu_plan(not args.no_pin)
    if plan.server is not None:
        os.sched_setaffinity(0, {plan.server})
    say(f"# bridge CPU profile ({time.strftime('%Y-%m-%d %H:%M:%S')}), load average {loadavg()}")
    say(f"{plan.description} (the bridge runs in this process)")
    return run_in_process(plan, "profile", lambda load, agent_url: profile_all(args, load, agent_url, say))


if __name__ == "__main__":
    sys.exit(main())
