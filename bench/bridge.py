# SPDX-License-Identifier: Apache-2.0
"""Bridge overhead: direct to an agent vs a raw pass-through proxy vs the Keybroker bridge (DESIGN §7).

Longer than 300 lines because starting, measuring and stopping every target reads best in one place.

    python bench/bridge.py              # full: 3 rounds x 3 s per measurement, 5-10 minutes
    python bench/bridge.py --quick      # smoke run: one short round at concurrency 1 and 8
    python bench/bridge.py --diagnose   # also a bridge without the calling-process lookup, and one
                                        # whose audit commits are not synced (bridge-nosync)
    python bench/bridge.py --full-path  # also the bridge with KEYBROKER_BRIDGE_PATH=full (bridge-full)
    python bench/bridge.py --full-path --workloads stream03,stream10   # the streaming fast path vs full
    python bench/bridge.py --loops      # also the bridge on asyncio's loop and h11 (bridge-asyncio)
    python bench/bridge.py --baseline DIR  # also the bridge from another checkout (bridge-base):
                                           # a before/after in one run (`git archive REV | tar -x -C DIR`)

Processes, all on 127.0.0.1 and all stopped at the end (Ctrl-C and errors included):
- the agent (bridge_agent.py): a minimal a2a-sdk 1.x echo agent under uvicorn, pinned with `taskset`
  to the first CPU. Its card declares one secret demand;
- the pass-through proxy (bridge_proxy.py): Starlette + one pooled httpx client behind a semaphore
  (16), bytes passed on; the same proxy with an aiohttp client (`passthrough-aiohttp`: the limit a
  Python bridge can reach, DESIGN §7); and the bridge (bridge_server.py): Keybroker's `Runtime` as
  `keybroker serve` runs it (a `BridgeApp` behind `running_bridge`, a broker over a memory-vault
  `open_services`), the agent added and a value stored for its demand with an owner's *always*
  grant, so the pre-flight path runs and no prompt shows (its fast path, fast_path.py; `--full-path`
  adds one more with KEYBROKER_BRIDGE_PATH=full; `--loops` one on asyncio's loop and h11, while
  `bridge` runs on uvloop and httptools, as `keybroker serve` does). All pinned to the second CPU;
- the load generator (bridge_load.py): raw asyncio HTTP/1.1 in its own process, on a third CPU when
  there is one, else unpinned.

Workloads: blocking `message/send` (A2A 0.3), `SendMessage` (1.0), `message/stream` (0.3) and
`SendStreamingMessage` (1.0) (streams: first event and whole stream), at each concurrency
(`--workloads` picks some). Direct and pass-through clients put the secret in the
message themselves (as a client without the bridge must), so the agent does the same work for all
three. Before the first round every target answers one request of each workload, untimed (a bridge
imports the A2A stack on its first bridged request). Every measurement is repeated in `--rounds` rounds
with the targets in a different order each round; the figures are medians over rounds (ratios: the
median of each round's ratio).

Then "fulfil a run-time demand from a granted value": the agent asks for a second key at run time
(`auth-required`); direct, the client resumes the task by hand with the value (two requests); through
the bridge, one request, the bridge answering from the granted, cached value. Target: <= 10 ms added.

Each measurement also reads the CPU time (all threads, /proc) the agent and the proxy or bridge spent
per request: the figure that other work on the machine skews least. It ends with Markdown tables for the
README and the machine's load average (compare latencies only between runs at a similar load). A few
failed requests are listed, not fatal; a measurement with no good answer stops the run (exit 1).
"""

from __future__ import annotations

import argparse
import math
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from bridge_common import READY, SLUG
from bridge_procs import HERE, Child, Children, LoadGenerator, cpu_plan, cpu_seconds, loadavg
from bridge_report import ASYNCIO_LOOP, BASELINE, FULL_PATH, NO_CALLER, NO_SYNC, Results, fmt, report
from bridge_workloads import FULFIL, WORKLOADS, fulfil_job


@dataclass(frozen=True)
class Options:
    """What the command line chose."""

    rounds: int
    duration: float
    warmup: float
    concurrencies: list[int]
    fulfil_concurrency: int
    max_requests: int
    diagnose: bool
    full_path: bool
    loops: bool
    profile: str | None
    pin: bool
    workloads: frozenset[str]
    baseline: str | None = None


@dataclass
class Target:
    """Where one target listens, and the process in front of the agent (None: direct)."""

    port: int
    path: str
    front: Child | None


class Bench:
    """The running processes and the measurements taken through them."""

    def __init__(
        self, options: Options, plan: str, agent: Child, load: LoadGenerator, targets: dict[str, Target]
    ) -> None:
        self.options = options
        self.agent = agent
        self.load = load
        self.targets = targets
        self.results = Results(
            levels=options.concurrencies,
            rounds=options.rounds,
            duration=options.duration,
            fulfil_concurrency=options.fulfil_concurrency,
            plan=plan,
            targets=list(targets),
        )

    def measure(self, what: str, target: str, job: dict[str, Any], concurrency: int) -> dict[str, Any]:
        """Run one job; adds the CPU milliseconds per request of the agent and of the front process.

        A few failed requests are reported, not fatal (a keep-alive race can hit any client); a job
        with no good answer, or more failures than good answers, stops the benchmark.
        """
        job.update(
            concurrency=concurrency,
            warmup=self.options.warmup,
            duration=self.options.duration,
            max_requests=self.options.max_requests,
            min_requests=max(10, concurrency),
        )
        front = self.targets[target].front
        front_pid = front.pid if front is not None else None
        before = cpu_seconds(self.agent.pid), cpu_seconds(front_pid)
        result = self.load.run(job)
        after = cpu_seconds(self.agent.pid), cpu_seconds(front_pid)
        errors, good = result["errors"], result["n"]
        if not good or errors > good:
            raise RuntimeError(
                f"{what} {target}: {errors} failed request(s), {good} good: {result['first_error']}"
            )
        if errors:
            self.results.failures.append(
                f"{what} {target}: {errors} of {errors + good} ({result['first_error']})"
            )
        done = max(result["completed"], 1)
        result["agent_cpu"] = (after[0] - before[0]) * 1000 / done
        result["front_cpu"] = (after[1] - before[1]) * 1000 / done if front is not None else math.nan
        return result

    def prime(self) -> None:
        """One untimed request of each workload to every target, before any round: a bridge imports
        the A2A stack on its first bridged request (~0.7 s), which would otherwise land in the first
        measurement's window (its p99 then hundreds of times direct's)."""
        for name, t in self.targets.items():
            jobs = [w.job(name, t.port, t.path) for w in WORKLOADS if w.name in self.options.workloads]
            if FULFIL in self.options.workloads and not name.startswith("passthrough"):
                jobs += [fulfil_job(name, t.port, t.path, streaming=s) for s in (False, True)]
            for job in jobs:
                job.update(concurrency=1, warmup=0.0, duration=0.001, max_requests=1, min_requests=1)
                result = self.load.run(job)
                if not result["n"]:
                    raise RuntimeError(f"{name} did not answer its first request: {result['first_error']}")

    def round(self, number: int, say: Callable[[str], None]) -> None:
        """Every workload at every level on every target, in this round's order; then the run-time demand."""
        names = list(self.targets)
        shift = number % len(names)
        order = names[shift:] + names[:shift]
        if number % 2:
            order.reverse()
        self.results.loads.append(loadavg())
        say(
            f"\n## round {number + 1}/{self.options.rounds}  "
            f"(order: {', '.join(order)}; load {self.results.loads[-1]})"
        )
        for workload in (w for w in WORKLOADS if w.name in self.options.workloads):
            for level in self.options.concurrencies:
                parts = []
                for name in order:
                    t = self.targets[name]
                    result = self.measure(
                        f"{workload.label} c={level}", name, workload.job(name, t.port, t.path), level
                    )
                    self.results.cell(workload.name, level, name).results.append(result)
                    first = f" first {fmt(result['first_p50'])}" if result["first_p50"] is not None else ""
                    cpu = f" cpu {fmt(result['front_cpu'])}" if t.front is not None else ""
                    parts.append(
                        f"{name} {result['rps']:.0f}/s p50 {fmt(result['p50'])} "
                        f"p99 {fmt(result['p99'])}{first}{cpu}"
                    )
                say(f"{workload.label:22} c={level:<3} " + " | ".join(parts))
        level = self.options.fulfil_concurrency
        for kind in ("send", "stream") if FULFIL in self.options.workloads else ():
            parts = []
            for name in (n for n in order if not n.startswith("passthrough")):
                t = self.targets[name]
                job = fulfil_job(name, t.port, t.path, streaming=kind == "stream")
                result = self.measure(f"run-time demand ({kind})", name, job, level)
                self.results.fulfil_cell(kind, name).results.append(result)
                parts.append(f"{name} p50 {fmt(result['p50'])} p99 {fmt(result['p99'])}")
            say(f"{'run-time demand, ' + kind:22} c={level:<3} " + " | ".join(parts))


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(options: Options, out: IO[str]) -> int:
    """Start everything, measure, print, stop everything."""

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    plan = cpu_plan(options.pin)
    load_before = loadavg()
    say(f"# Keybroker bridge benchmark  ({time.strftime('%Y-%m-%d %H:%M:%S')})")
    say(f"Python {platform.python_version()}, {plan.description}")
    say(f"load average (1/5/15 min) at start: {load_before}")
    say(
        f"{options.rounds} round(s), {options.duration:g} s per measurement after {options.warmup:g} s "
        f"warm-up, concurrency {', '.join(map(str, options.concurrencies))}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    children = Children(workdir)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        agent = children.start("agent", [str(HERE / "bridge_agent.py")], plan.agent)
        agent_url = f"http://127.0.0.1:{agent.ready_ports()[READY]}"
        proxy = children.start("proxy", [str(HERE / "bridge_proxy.py"), agent_url, "16"], plan.server)
        proxy_port = proxy.ready_ports()[READY]
        fast_proxy = children.start(
            "proxy-aiohttp", [str(HERE / "bridge_proxy.py"), agent_url, "16", "aiohttp"], plan.server
        )
        fast_proxy_port = fast_proxy.ready_ports()[READY]
        argv = [str(HERE / "bridge_server.py"), agent_url]
        if options.diagnose:
            argv.append("--no-caller")
        if options.profile:
            argv += ["--profile", str(Path(options.profile).resolve())]
        bridge = children.start("bridge", argv, plan.server, env={"KEYBROKER_HOME": str(workdir / "home")})
        bridge_ports = bridge.ready_ports()
        unsynced: Child | None = None
        if options.diagnose:
            env = {"KEYBROKER_HOME": str(workdir / "home-nosync")}
            argv = [str(HERE / "bridge_server.py"), agent_url, "--no-sync"]
            unsynced = children.start(NO_SYNC, argv, plan.server, env=env)
        full: Child | None = None
        if options.full_path:
            env = {"KEYBROKER_HOME": str(workdir / "home-full"), "KEYBROKER_BRIDGE_PATH": "full"}
            full = children.start(
                "bridge-full", [str(HERE / "bridge_server.py"), agent_url], plan.server, env=env
            )
        plain: Child | None = None
        if options.loops:
            env = {"KEYBROKER_HOME": str(workdir / "home-asyncio"), "KEYBROKER_LOOP": "asyncio"}
            env["KEYBROKER_HTTP"] = "h11"
            plain = children.start(
                ASYNCIO_LOOP, [str(HERE / "bridge_server.py"), agent_url], plan.server, env=env
            )
        base: Child | None = None
        if options.baseline:
            # Its own bench/bridge_server.py, which puts its own desktop/ first on sys.path.
            source = Path(options.baseline).resolve()
            paths = f"{source / 'bench'}:{source / 'desktop'}"
            env = {"KEYBROKER_HOME": str(workdir / "home-base"), "PYTHONPATH": paths}
            argv = [str(source / "bench" / "bridge_server.py"), agent_url]
            base = children.start(BASELINE, argv, plan.server, env=env)
        load = LoadGenerator(children.start("load", [str(HERE / "bridge_load.py")], plan.client, stdin=True))

        bridged = f"/agents/{SLUG}"
        targets = {
            "direct": Target(int(agent_url.rsplit(":", 1)[1]), "/", None),
            "passthrough": Target(proxy_port, "/", proxy),
            "passthrough-aiohttp": Target(fast_proxy_port, "/", fast_proxy),
            "bridge": Target(bridge_ports[READY], bridged, bridge),
        }
        if full is not None:
            targets[FULL_PATH] = Target(full.ready_ports()[READY], bridged, full)
        if plain is not None:
            targets[ASYNCIO_LOOP] = Target(plain.ready_ports()[READY], bridged, plain)
        if base is not None:
            targets[BASELINE] = Target(base.ready_ports()[READY], bridged, base)
        if "READY2" in bridge_ports:
            targets[NO_CALLER] = Target(bridge_ports["READY2"], bridged, bridge)
        if unsynced is not None:
            targets[NO_SYNC] = Target(unsynced.ready_ports()[READY], bridged, unsynced)
        say(f"targets: {', '.join(f'{n} :{t.port}{t.path}' for n, t in targets.items())}")
        bench = Bench(options, plan.description, agent, load, targets)
        bench.prime()
        for number in range(options.rounds):
            bench.round(number, say)
        say()
        report(say, bench.results, load_before, loadavg())
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        if options.profile:
            say(f"bridge profile written to {options.profile} (python -m pstats {options.profile})")


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 3; quick 1)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 3; quick 0.25)")
    parser.add_argument(
        "--warmup", type=float, help="warm-up seconds per measurement (default 0.5; quick 0.15)"
    )
    parser.add_argument("--concurrency", help="comma-separated levels (default 1,64; quick 1,8)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap per measurement")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also measure the bridge without the calling-process lookup, and without the audit's sync",
    )
    parser.add_argument(
        "--full-path",
        action="store_true",
        help="also the bridge with KEYBROKER_BRIDGE_PATH=full (bridge-full)",
    )
    parser.add_argument(
        "--loops",
        action="store_true",
        help="also the bridge on asyncio's loop and h11 (bridge-asyncio; bridge: uvloop and httptools)",
    )
    parser.add_argument("--profile", metavar="FILE", help="run the bridge under cProfile, stats to FILE")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    names = [w.name for w in WORKLOADS] + [FULFIL]
    parser.add_argument(
        "--workloads", default=",".join(names), help=f"comma-separated, of {', '.join(names)} (default all)"
    )
    parser.add_argument(
        "--baseline", metavar="DIR", help="also the bridge from the checkout in DIR (bridge-base)"
    )
    args = parser.parse_args(argv)
    levels = args.concurrency or ("1,8" if args.quick else "1,64")
    try:
        concurrencies = [int(c) for c in levels.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes comma-separated numbers")
    if not concurrencies or min(concurrencies) < 1 or max(concurrencies) > 256:
        parser.error("--concurrency takes levels from 1 to 256")
    workloads = frozenset(w.strip() for w in args.workloads.split(",") if w.strip())
    if not workloads or not workloads <= set(names):
        parser.error(f"--workloads takes names of {', '.join(names)}")
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    duration = args.duration if args.duration is not None else (0.25 if args.quick else 3.0)
    warmup = args.warmup if args.warmup is not None else (0.15 if args.quick else 0.5)
    if rounds < 1 or duration <= 0 or warmup < 0 or args.max_requests < 1:
        parser.error("--rounds >= 1, --duration > 0, --warmup >= 0, --max-requests >= 1")
    return Options(
        rounds=rounds,
        duration=duration,
        warmup=warmup,
        concurrencies=concurrencies,
        fulfil_concurrency=1,
        max_requests=args.max_requests,
        diagnose=args.diagnose,
        full_path=args.full_path,
        loops=args.loops,
        profile=args.profile,
        pin=not args.no_pin,
        workloads=workloads,
        baseline=args.baseline,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        return run(options, sys.stdout)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: every process the benchmark started was stopped\n")
        return 130
    except RuntimeError as exc:
        sys.stderr.write(f"benchmark failed: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
