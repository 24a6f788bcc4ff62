# SPDX-License-Identifier: Apache-2.0
"""The tray app's idle memory, cold start and first-request latency (DESIGN §7: idle RSS <= 120 MB).

Each run launches the real app (`python -m keybroker -v`, no command) under Xvfb with trayer as its tray
host and a throw-away Keybroker home, with the benchmark's echo agent (bridge_agent.py) registered as
`echo`. It prints, per run and as medians:

- `icon` / `ready`: seconds from launch to "tray icon shown" in the log / to `instance.json` (written
  once the bridge's port answers);
- VmRSS, RssAnon, RssFile (/proc/<pid>/status) and PSS, USS (/proc/<pid>/smaps_rollup) after the app
  has been idle IDLE seconds, before any request reached it;
- `card 1st` / `card 2nd`: a GET of the bridged card (`/agents/echo/.well-known/agent-card.json`),
  the first one the app ever answers (it imports the a2a-sdk stack, which the idle app has not loaded,
  and builds the agent's channel), then again; `send 1st` / `send 2nd`: a blocking `message/send`
  through the bridge (the client fulfils the card's demand itself, so no prompt shows);
- `rss after`: VmRSS once those requests were answered.

`--imports` adds one more launch of the app under tracemalloc and prints where the memory went: the
Python memory each top-level package allocated while it was imported (its own modules only, not what
they imported from other packages) and the RSS that grew meanwhile (C allocations, touched library
pages: tracemalloc's own overhead inflates this column), the live Python memory by package at idle, and
the idle process's resident pages by mapping (/proc/<pid>/smaps: Qt libraries, anonymous memory...).

The memory vault anywhere; the real Secret Service only inside the test rig's private session:

    python bench/memory.py [--runs 3] [--idle 5] [--imports]
    scripts/secret-service-session.sh .venv/bin/python bench/memory.py --vault system

Numbers only: a benchmark never asserts.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.abc
import importlib.machinery
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]
sys.path.append(str(ROOT / "desktop"))  # after PYTHONPATH: --source decides what the app runs

from bridge_common import CARD_KEY, CARD_VALUE, SLUG  # noqa: E402
from bridge_procs import Children  # noqa: E402
from bridge_workloads import _message_v03, _metadata, _rpc  # noqa: E402

MB = 1024 * 1024
START_TIMEOUT = 60.0
CARD_PATH = f"/agents/{SLUG}/.well-known/agent-card.json"
SEND_PATH = f"/agents/{SLUG}"


def rig_active() -> bool:
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    return bool(bus) and os.environ.get("KEYBROKER_RIG_BUS") == bus


# --- what the running process holds ------------------------------------------------------------------


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon, RssFile and, where the kernel has smaps_rollup, Pss and Uss, in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    with contextlib.suppress(OSError):
        rollup: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, value = line.partition(":")
            rollup[key] = int(value.split()[0])
        out["Pss"] = rollup["Pss"] / 1024
        out["Uss"] = (rollup["Private_Clean"] + rollup["Private_Dirty"]) / 1024
    return out


def rss_by_mapping(pid: int) -> list[tuple[str, float]]:
    """Resident MB per mapped file (anonymous memory as [anon], [heap]...), largest first."""
    totals: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:
            name = head[5] if len(head) == 6 else "[anon]"
            if "site-packages/" in name:
                name = name.split("site-packages/", 1)[1]
        elif line.startswith("Rss:"):
            totals[name] += int(line.split()[1])
    return [(n, kb / 1024) for n, kb in totals.most_common()]


# --- the display, the agent and the app --------------------------------------------------------------


class Rig:
    """Xvfb + trayer and the echo agent, shared by every run."""

    def __init__(self, workdir: Path) -> None:
        from tests.ui.app_process import missing_tray_tools, start_tray_display

        missing = missing_tray_tools()
        if missing:
            raise SystemExit(f"memory: needs {', '.join(missing)} (make deps installs xvfb and trayer)")
        self.workdir = workdir
        self.display = start_tray_display(workdir)
        self.children = Children(workdir)
        agent = self.children.start("agent", [str(HERE / "bridge_agent.py")], None)
        self.agent_url = f"http://127.0.0.1:{agent.ready_ports()['READY']}"

    def close(self) -> None:
        self.children.stop_all()
        self.display.stop()


#: The `desktop` directory whose `keybroker` runs (--source: compare a copy of another revision).
SOURCE = ROOT / "desktop"
#: How `keybroker` is started (--command: an installed bundle's executable instead).
KEYBROKER = [sys.executable, "-m", "keybroker"]


def app_env(rig: Rig, home: Path, vault: str) -> dict[str, str]:
    """The app's environment: the rig's display, no StatusNotifier bus unless the vault needs D-Bus."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    if vault == "memory":
        env = {k: v for k, v in env.items() if not k.startswith("DBUS_")}
        env["KEYBROKER_VAULT"] = "memory"
    else:
        env.pop("KEYBROKER_VAULT", None)
    env.update(
        DISPLAY=rig.display.display,
        QT_QPA_PLATFORM="xcb",
        KEYBROKER_HOME=str(home),
        KEYBROKER_PORT="0",
        PYTHONPATH=os.pathsep.join(p for p in (str(SOURCE), env.get("PYTHONPATH", "")) if p),
    )
    env.pop("WAYLAND_DISPLAY", None)
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [*KEYBROKER, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"memory: keybroker {' '.join(args)} failed:\n{result.stderr}")


def wait_until(
    checks: dict[str, Callable[[], bool]], process: subprocess.Popen[bytes], log: Path
) -> dict[str, float]:
    """When each check first held (monotonic, polled every 10 ms); SystemExit when the app exits first."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for what, check in checks.items():
            if what not in seen and check():
                seen[what] = time.monotonic()
        if len(seen) == len(checks):
            return seen
        if process.poll() is not None:
            missing = ", ".join(sorted(set(checks) - set(seen)))
            raise SystemExit(
                f"memory: the app exited ({process.returncode}) before {missing}:\n{log.read_text()}"
            )
        time.sleep(0.01)
    raise SystemExit(f"memory: no {', '.join(sorted(set(checks) - set(seen)))} in time:\n{log.read_text()}")


def timed_get(url: str) -> float:
    import httpx

    started = time.perf_counter()
    response = httpx.get(url, trust_env=False, timeout=30)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"memory: GET {url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def timed_send(url: str) -> float:
    import httpx

    body = _rpc("message/send", _message_v03("hello memory", _metadata({CARD_KEY: CARD_VALUE})))
    body = body.replace("@ID@", f"m-{time.monotonic_ns()}")
    started = time.perf_counter()
    response = httpx.post(
        url, content=body, headers={"Content-Type": "application/json"}, trust_env=False, timeout=30
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or '"completed"' not in response.text:
        raise SystemExit(f"memory: send to {url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


@contextlib.contextmanager
def launched(
    rig: Rig, vault: str, argv: Sequence[str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """The app started over a fresh home with `echo` registered: (process, its log, its home)."""
    home = Path(tempfile.mkdtemp(prefix="home.", dir=rig.workdir))
    env = app_env(rig, home, vault)
    cli(env, "agents", "add", rig.agent_url, "--slug", SLUG)
    log = home / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv), env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        yield process, log, home
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def one_run(rig: Rig, vault: str, idle: float) -> dict[str, float]:
    """Launch, wait until ready and idle, measure memory, then the first requests."""
    with launched(rig, vault, [*KEYBROKER, "-v"]) as (process, log, home):
        started = time.monotonic()
        instance = home / "runtime" / "instance.json"
        seen = wait_until(
            {"ready": instance.exists, "icon": lambda: "tray icon shown" in log.read_text()}, process, log
        )
        ready, icon = seen["ready"] - started, seen["icon"] - started
        if "no system tray" in log.read_text():
            raise SystemExit(f"memory: the app found no tray:\n{log.read_text()}")
        port = json.loads(instance.read_text())["port"]
        time.sleep(idle)
        row = {"icon": icon, "ready": ready, **proc_memory(process.pid)}
        base = f"http://127.0.0.1:{port}"
        row["card 1st"] = timed_get(base + CARD_PATH)
        row["card 2nd"] = timed_get(base + CARD_PATH)
        row["send 1st"] = timed_send(base + SEND_PATH)
        row["send 2nd"] = timed_send(base + SEND_PATH)
        time.sleep(1.0)
        row["rss after"] = proc_memory(process.pid)["VmRSS"]
        return row


COLUMNS = [
    ("icon", "icon s", 1.0, ".2f"),
    ("ready", "ready s", 1.0, ".2f"),
    ("VmRSS", "VmRSS", 1.0, ".1f"),
    ("RssAnon", "RssAnon", 1.0, ".1f"),
    ("RssFile", "RssFile", 1.0, ".1f"),
    ("Pss", "PSS", 1.0, ".1f"),
    ("Uss", "USS", 1.0, ".1f"),
    ("card 1st", "card1 ms", 1000.0, ".1f"),
    ("card 2nd", "card2 ms", 1000.0, ".1f"),
    ("send 1st", "send1 ms", 1000.0, ".1f"),
    ("send 2nd", "send2 ms", 1000.0, ".1f"),
    ("rss after", "RSS after", 1.0, ".1f"),
]


def print_row(label: str, row: dict[str, float]) -> None:
    cells = [format(row[k] * scale, fmt) if k in row else "-" for k, _, scale, fmt in COLUMNS]
    print(f"{label:<8}" + "".join(f"{c:>10}" for c in cells), flush=True)


# --- where the memory went (--imports) ---------------------------------------------------------------


def package_of(filename: str) -> str:
    """`site-packages/a2a/x.py` -> `a2a`; a stdlib file -> `stdlib:<module>`; keybroker's own files."""
    path = filename.replace(os.sep, "/")
    for marker in ("site-packages/", "/desktop/"):
        if marker in path:
            first = path.split(marker, 1)[1].split("/", 1)[0]
            return first.removesuffix(".py").split(".", 1)[0]
    if "/lib/python3" in path:
        rest = path.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib:" + (rest[1].removesuffix(".py") if len(rest) > 1 else "?")
    return path if path.startswith("<") else "other"


class ImportMeter(importlib.abc.MetaPathFinder):
    """Per module: the traced Python memory and the RSS its own code allocated while it was imported."""

    def __init__(self) -> None:
        self.traced: collections.Counter[str] = collections.Counter()
        self.rss: collections.Counter[str] = collections.Counter()
        self._stack: list[list[int]] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: importlib.machinery.ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                loader = spec.loader
                if loader is not None and not isinstance(loader, type) and hasattr(loader, "exec_module"):
                    loader.exec_module = self._metered(fullname, loader.exec_module)  # type: ignore[method-assign,assignment]
                return spec
        return None

    def _metered(self, name: str, exec_module: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
        def run(module: ModuleType) -> None:
            self._stack.append([0, 0])
            traced0, rss0 = tracemalloc.get_traced_memory()[0], _rss_bytes()
            try:
                exec_module(module)
            finally:
                traced, rss = tracemalloc.get_traced_memory()[0] - traced0, _rss_bytes() - rss0
                child_traced, child_rss = self._stack.pop()
                self.traced[name] += traced - child_traced
                self.rss[name] += rss - child_rss
                if self._stack:
                    self._stack[-1][0] += traced
                    self._stack[-1][1] += rss

        return run


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def probe_main(out: str, idle: float) -> None:
    """`--probe OUT` (run by --imports as the app): the real app in this process, metered."""
    tracemalloc.start(1)
    meter = ImportMeter()
    sys.meta_path.insert(0, meter)

    def report() -> None:
        instance = Path(os.environ["KEYBROKER_HOME"]) / "runtime" / "instance.json"
        while not instance.exists():
            time.sleep(0.05)
        time.sleep(idle)
        live: collections.Counter[str] = collections.Counter()
        for stat in tracemalloc.take_snapshot().statistics("filename"):
            live[package_of(stat.traceback[0].filename)] += stat.size

        def by_package(per_module: collections.Counter[str]) -> dict[str, int]:
            totals: collections.Counter[str] = collections.Counter()
            for name, size in per_module.items():
                module = sys.modules.get(name)
                where = getattr(module, "__file__", None) or name
                totals[package_of(where) if where != name else name.split(".")[0]] += size
            return dict(totals)

        result = {
            "top_modules": meter.traced.most_common(25),
            "import_traced": by_package(meter.traced),
            "import_rss": by_package(meter.rss),
            "live": dict(live),
            "modules": len(sys.modules),
            "tops": sorted({m.split(".")[0] for m in sys.modules}),
        }
        Path(out).write_text(json.dumps(result))

    threading.Thread(target=report, daemon=True, name="memory-probe").start()
    sys.argv = ["keybroker", "-v"]
    from keybroker.__main__ import main

    main()


def imports_report(rig: Rig, vault: str, idle: float) -> None:
    out = rig.workdir / "probe.json"
    probe = [sys.executable, str(Path(__file__).resolve()), "--probe", str(out), "--idle", str(idle)]
    with launched(rig, vault, probe) as (
        process,
        log,
        home,
    ):
        wait_until({"the probe's report": out.exists}, process, log)
        time.sleep(0.2)
        data: dict[str, Any] = json.loads(out.read_text())
    with launched(rig, vault, [*KEYBROKER, "-v"]) as (process, log, home):
        wait_until({"instance.json": (home / "runtime" / "instance.json").exists}, process, log)
        time.sleep(idle)
        mappings = rss_by_mapping(process.pid)
    imported_rss, traced = data["import_rss"], data["import_traced"]
    print(f"\n{data['modules']} modules loaded at idle; top-level: {' '.join(data['tops'])}")
    print("\nimported by package (own modules): traced MB, RSS grown MB (tracemalloc inflates it)")
    for name, size in sorted(traced.items(), key=lambda kv: -kv[1])[:30]:
        print(f"  {size / MB:7.2f} {imported_rss.get(name, 0) / MB:7.2f}  {name}")
    print(f"  {sum(traced.values()) / MB:7.2f} {sum(imported_rss.values()) / MB:7.2f}  (all imports)")
    print("\nimported by module (own code only): traced MB")
    for name, size in data["top_modules"]:
        print(f"  {size / MB:7.2f}  {name}")
    live = data["live"]
    print("\nlive Python memory at idle by the package that allocated it (MB)")
    for name, size in sorted(live.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {size / MB:7.2f}  {name}")
    print(f"  {sum(live.values()) / MB:7.2f}  (all traced)")
    print("\nresident at idle by mapping, untraced app (MB)")
    for name, size in mappings[:25]:
        print(f"  {size:7.2f}  {name}")
    shown = sum(size for _, size in mappings[:25])
    print(f"  {sum(size for _, size in mappings) - shown:7.2f}  (the other {len(mappings) - 25} mappings)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vault", choices=("memory", "system"), default="memory")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before measuring (default 5)")
    parser.add_argument("--imports", action="store_true", help="also show where the memory went")
    parser.add_argument("--source", type=Path, help="the desktop/ directory to run (default: this tree's)")
    parser.add_argument("--command", type=Path, help="run this keybroker executable (an installed bundle)")
    parser.add_argument("--probe", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.command:
        global KEYBROKER
        KEYBROKER = [str(args.command.resolve())]
        if args.imports:
            raise SystemExit("memory: --imports measures the source tree, not --command")
    if args.source:
        global SOURCE
        SOURCE = args.source.resolve()
        if not (SOURCE / "keybroker" / "__init__.py").is_file():
            raise SystemExit(f"memory: no keybroker package in {SOURCE}")
    if args.probe:
        probe_main(args.probe, args.idle)
        return
    if not sys.platform.startswith("linux"):
        raise SystemExit("memory: Linux only (/proc, Xvfb)")
    if args.vault == "system" and not rig_active():
        raise SystemExit("memory: --vault system runs only inside scripts/secret-service-session.sh")
    with tempfile.TemporaryDirectory(prefix="keybroker-memory.") as tmp:
        rig = Rig(Path(tmp))
        try:
            print(f"vault: {args.vault}; idle {args.idle:g} s; {args.runs} run(s)")
            print(f"{'run':<8}" + "".join(f"{label:>10}" for _, label, _, _ in COLUMNS))
            rows = []
            for n in range(args.runs):
                rows.append(one_run(rig, args.vault, args.idle))
                print_row(str(n + 1), rows[-1])
            print_row("median", {k: statistics.median(r[k] for r in rows) for k in rows[0]})
            if args.imports:
                imports_report(rig, args.vault, args.idle)
        finally:
            rig.close()


if __name__ == "__main__":
    main()
