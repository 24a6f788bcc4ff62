"""CLI start-up: wall time of whole `keybroker` processes, medians of N runs (DESIGN §7: `secrets show
--reveal` in <= 150 ms for the whole process).

Each round runs every command once, in turn, in a fresh process against one private KEYBROKER_HOME; the
median (and min, max) per command and vault is printed. The memory vault runs anywhere (a session-only
vault: `--reveal` and `set` are refused there after the services are open, so their rows are the cost of
everything but the vault round trips); the system vault only inside the test rig's private Secret Service
session:

    python bench/cli.py                                          # memory vault
    scripts/secret-service-session.sh .venv/bin/python bench/cli.py   # memory and the rig's gnome-keyring
    python bench/cli.py --runs 21 --entry script                 # the `keybroker` console script

`--importtime` also prints the slowest imports (cumulative, `-X importtime`) of `secrets show --reveal`.

Bytecode: an installed Keybroker (wheel, .deb, bundle) runs from compiled `.pyc` files, but this dev
environment sets PYTHONDONTWRITEBYTECODE=1, so every run compiles Keybroker's ~35 modules again (~50 ms on
these machines). The benchmark therefore caches bytecode in a private PYTHONPYCACHEPREFIX (never in the
source tree) filled by the warm-up runs; `--no-pyc` measures the compile-every-time case instead.
`KEYBROKER_BENCH_SOURCE=DIR` benchmarks another source tree (e.g. an older checkout's `desktop`).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

DESKTOP = Path(os.environ.get("KEYBROKER_BENCH_SOURCE") or Path(__file__).resolve().parent.parent / "desktop")
KEY = "BENCH_DEMO"
VALUE = "sk-bench-" + "x" * 40

#: (label, arguments, exit codes that count as the command working)
COMMANDS: dict[str, tuple[list[str], tuple[int, ...]]] = {
    "--version": (["--version"], (0,)),
    "--help": (["--help"], (0,)),
    "status": (["status"], (0,)),
    "secrets list": (["secrets", "list"], (0,)),
    "secrets show": (["secrets", "show", KEY], (0,)),
    "secrets show --reveal": (["secrets", "show", KEY, "--reveal"], (0,)),
    "secrets set": (["secrets", "set", KEY], (0,)),
}
#: What a command reads from stdin (the value `secrets set` stores: the same one again each round).
STDIN: dict[str, str] = {"secrets set": VALUE}


def rig_active() -> bool:
    """True inside scripts/secret-service-session.sh (its private bus, never the login session's)."""
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    return bool(bus) and os.environ.get("KEYBROKER_RIG_BUS") == bus


def entry_argv(entry: str) -> list[str]:
    """How a user starts keybroker: `python -m keybroker`, or the installed console script."""
    if entry == "script":
        script = Path(sys.executable).with_name("keybroker")
        found = str(script) if script.exists() else shutil.which("keybroker")
        if not found:
            raise SystemExit("no `keybroker` console script next to this Python or on PATH")
        return [found]
    return [sys.executable, "-m", "keybroker"]


def environment(home: Path, vault: str, pycache: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    env["KEYBROKER_HOME"] = str(home)
    env["KEYBROKER_VAULT"] = vault
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(DESKTOP), env.get("PYTHONPATH", "")) if p)
    env.pop("KEYBROKER_PORT", None)
    return env


def child_cpu() -> float:
    """CPU seconds (user + system) of the children reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: Sequence[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, int]:
    """Seconds from spawn to exit, and the exit code."""
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return time.perf_counter() - started, done.returncode


Commands = dict[str, tuple[list[str], tuple[int, ...]]]


def prepare(entry: list[str], env: dict[str, str], vault: str) -> Commands:
    """Store the demo secret; the memory vault cannot keep one across processes, so there the metadata
    record is written directly and `--reveal` and `set` are expected to be refused (exit 4, after opening
    the core)."""
    commands = dict(COMMANDS)
    if vault == "system":
        _, code = run([*entry, "secrets", "set", KEY], env, stdin=VALUE)
        if code != 0:
            raise SystemExit(f"`secrets set` failed with exit {code} on the system vault")
        return commands
    sys.path.insert(0, str(DESKTOP))
    from keybroker.core.models import SecretValue
    from keybroker.core.vault.vault import open_vault
    from keybroker.wiring.services import open_services

    svc = open_services(environ=env, vault=open_vault("memory"))
    try:
        svc.secrets.set(KEY, SecretValue(VALUE), owner=None, caller="bench/cli.py")
    finally:
        svc.close()
    for label in ("secrets show --reveal", "secrets set"):
        commands[label] = (COMMANDS[label][0], (4,))
    return commands


Samples = dict[str, tuple[list[float], list[float]]]  # command -> (wall seconds, CPU seconds)


def bench(entry: list[str], vault: str, runs: int, *, pyc: bool) -> Samples:
    home = Path(tempfile.mkdtemp(prefix="kb-bench-cli-"))
    try:
        env = environment(home, vault, home / "pycache" if pyc else None)
        commands = prepare(entry, env, vault)
        samples: Samples = {label: ([], []) for label in commands}
        for label, (args, _) in commands.items():  # one warm-up each: the page cache, .pyc files
            run([*entry, *args], env, STDIN.get(label))
        for _ in range(runs):
            for label, (args, ok) in commands.items():
                cpu = child_cpu()
                seconds, code = run([*entry, *args], env, STDIN.get(label))
                if code not in ok:
                    raise SystemExit(f"`keybroker {' '.join(args)}` exited {code} on the {vault} vault")
                samples[label][0].append(seconds)
                samples[label][1].append(child_cpu() - cpu)
        return samples
    finally:
        shutil.rmtree(home, ignore_errors=True)


def importtime(entry: list[str], vault: str, top: int, *, pyc: bool) -> None:
    home = Path(tempfile.mkdtemp(prefix="kb-bench-cli-"))
    try:
        env = environment(home, vault, home / "pycache" if pyc else None)
        commands = prepare(entry, env, vault)
        args = commands["secrets show --reveal"][0]
        run([*entry, *args], env)  # fills the bytecode cache
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "keybroker", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        rows = []
        for line in done.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                _, cumulative, name = line.split("|")
                if cumulative.strip().isdigit():
                    rows.append((int(cumulative), name.rstrip()))
        print(f"\nslowest imports of `secrets show --reveal` ({vault} vault), cumulative us:")
        for micros, module in sorted(rows)[-top:]:
            print(f"{micros:9d} {module}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=11, help="rounds (default 11)")
    parser.add_argument("--vault", choices=["memory", "system", "both"], help="default: both in the rig")
    parser.add_argument("--entry", choices=["module", "script"], default="module")
    parser.add_argument("--no-pyc", action="store_true", help="compile every module on every run")
    parser.add_argument(
        "--importtime", type=int, metavar="N", default=0, help="also list the N slowest imports"
    )
    args = parser.parse_args(argv)
    vaults = {"memory": ["memory"], "system": ["system"], "both": ["memory", "system"]}[
        args.vault or ("both" if rig_active() else "memory")
    ]
    if "system" in vaults and not rig_active():
        raise SystemExit("the system vault is benchmarked only inside scripts/secret-service-session.sh")
    entry = entry_argv(args.entry)
    started = time.perf_counter()
    floor = min(run([sys.executable, "-c", "pass"], dict(os.environ))[0] for _ in range(args.runs))
    pyc = not args.no_pyc
    print(
        f"entry: {' '.join(entry)}; {args.runs} runs; bytecode {'cached' if pyc else 'compiled every run'}; "
        f"`python -c pass` min {floor * 1000:.0f} ms"
    )
    print("wall: spawn to exit; cpu: the process's user + system time (steadier on a busy machine)")
    print(f"{'vault':7} {'command':24} {'median':>8} {'min':>8} {'max':>8} {'cpu med':>8}")
    for vault in vaults:
        for label, (wall, cpu) in bench(entry, vault, args.runs, pyc=pyc).items():
            med, lo, hi = statistics.median(wall), min(wall), max(wall)
            print(
                f"{vault:7} {label:24} {med * 1000:6.0f}ms {lo * 1000:6.0f}ms {hi * 1000:6.0f}ms "
                f"{statistics.median(cpu) * 1000:6.0f}ms"
            )
    if args.importtime:
        for vault in vaults:
            importtime(entry, vault, args.importtime, pyc=pyc)
    print(f"(took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
