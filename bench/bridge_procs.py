# SPDX-License-Identifier: Apache-2.0
"""The bridge benchmark's child processes: start (pinned), wait until ready, talk to, measure, stop.

Every child runs in its own session (a Ctrl-C reaches the benchmark only, which then stops them in
order) and, on Linux, gets SIGTERM if the benchmark itself dies without stopping it. Children are
stopped by their own pid: SIGTERM, then SIGKILL after STOP_TIMEOUT seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge_common import READY

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the benchmark dies without stopping us (SIGKILL)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    proxies = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k.lower() not in proxies}
    paths = [str(HERE), str(HERE.parent / "desktop"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"] = "false"
    env.update(extra or {})
    return env


@dataclass
class Child:
    """A process the benchmark started (and must stop)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    pending: bytes = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, limit: int = 3000) -> str:
        """The end of its stderr, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no output)"

    def read_line(self, timeout: float) -> str:
        """The next line it prints on stdout; RuntimeError with its log tail on timeout or exit."""
        stdout = self.process.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.name}: no answer in {timeout:.0f} s\n{self.tail()}")
                if selector.select(min(left, 1.0)):
                    data = os.read(stdout.fileno(), 65536)
                    if not data:
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            self.process.wait(2.0)
                        code = self.process.poll()
                        raise RuntimeError(f"{self.name} closed its output (exit code {code})\n{self.tail()}")
                    self.pending += data
                elif self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}\n{self.tail()}")
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode().strip()

    def ready_ports(self) -> dict[str, int]:
        """Read `READY<n> <port>` lines up to the plain `READY <port>`."""
        ports: dict[str, int] = {}
        while True:
            word, _, port = self.read_line(START_TIMEOUT).partition(" ")
            if word.startswith(READY):
                ports[word] = int(port)
            if word == READY:
                return ports

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT seconds; this process only, by its pid."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@dataclass
class Children:
    """Every child, stopped in reverse start order."""

    workdir: Path
    items: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        cpu: int | None,
        *,
        env: dict[str, str] | None = None,
        stdin: bool = False,
    ) -> Child:
        """Start `python argv...` (pinned to `cpu` when given); stdout is a pipe, stderr a log file."""
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*pin, sys.executable, *argv],
                cwd=HERE,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=_child_env(env),
                start_new_session=True,
                preexec_fn=_die_with_parent,  # the benchmark runs no threads
            )
        child = Child(name, process, log_path)
        self.items.append(child)
        return child

    def stop_all(self) -> None:
        """Stop every child, the last started first."""
        while self.items:
            self.items.pop().stop()


class LoadGenerator:
    """The load generator process (bridge_load.py): one JSON job in, one JSON result out."""

    def __init__(self, child: Child) -> None:
        self.child = child

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        stdin = self.child.process.stdin
        assert stdin is not None
        stdin.write((json.dumps(job) + "\n").encode())
        stdin.flush()
        timeout = job.get("warmup", 0.5) + job.get("duration", 3.0) + 90.0
        result: dict[str, Any] = json.loads(self.child.read_line(timeout))
        return result


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and all its threads so far (Linux /proc; else NaN)."""
    if pid is None:
        return math.nan
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass(frozen=True)
class CpuPlan:
    """Which CPU each process is pinned to (None: not pinned)."""

    agent: int | None
    server: int | None
    client: int | None
    description: str


def cpu_plan(pin: bool) -> CpuPlan:
    """Agent on the first CPU, proxy and bridge on the second, load generator on a third if any."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pin or shutil.which("taskset") is None or len(cpus) < 2:
        return CpuPlan(None, None, None, f"unpinned ({len(cpus) or os.cpu_count()} CPUs)")
    client = cpus[2] if len(cpus) >= 3 else None
    where = f"CPU {client}" if client is not None else "unpinned"
    text = f"agent on CPU {cpus[0]}, proxy and bridge on CPU {cpus[1]}, load generator {where}"
    return CpuPlan(cpus[0], cpus[1], client, text)


def loadavg() -> str:
    """`uptime`'s load average (1, 5, 15 minutes)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_in_process(
    plan: CpuPlan, what: str, measure: Callable[[LoadGenerator, str], Coroutine[Any, Any, None]]
) -> int:
    """For a bench that runs the bridge in this process (bridge_profile.py, bridge_timeline.py): the echo
    agent and the load generator started as children, pinned by `plan`, `measure(load, agent_url)` run
    on a new event loop here, both children stopped however it ends. The exit code: 0; 1 when it raised
    RuntimeError (said as "`what` failed: ..."); 130 when interrupted."""
    workdir = Path(tempfile.mkdtemp(prefix="kb-bench-procs-"))
    children = Children(workdir)
    try:
        agent = children.start("agent", [str(HERE / "bridge_agent.py")], plan.agent)
        agent_url = f"http://127.0.0.1:{agent.ready_ports()[READY]}"
        load = LoadGenerator(children.start("load", [str(HERE / "bridge_load.py")], plan.client, stdin=True))
        asyncio.run(measure(load, agent_url))
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except RuntimeError as exc:
        sys.stderr.write(f"{what} failed: {exc}\n")
        return 1
    finally:
        children.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
