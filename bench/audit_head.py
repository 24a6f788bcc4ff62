# SPDX-License-Identifier: Apache-2.0
"""The audit head's cost under a stream of releases: vault writes, the app's CPU and the vault daemon's.

The running app keeps the audit chain's head in the OS vault (core/audit/head.py's
`DeferredHeadWriter`). The bridge benchmark runs on a memory vault, where that write is free; against
gnome-keyring each is a D-Bus round trip and work in the daemon. This appends `released` events at the
bridge's concurrency-1 pace (one every `--interval` seconds) for `--seconds`, through a real
`AuditLog` over a real catalog with the head in the vault, twice: with the writer's pace (at most one
write a second, what the app runs) and without it (a write after every release it can, what it ran
before), and prints for each the vault writes, and the CPU per release of this process and of the
gnome-keyring daemon. Numbers only, never asserted. The real Secret Service only inside the test
rig's private session:

    scripts/secret-service-session.sh .venv/bin/python bench/audit_head.py
    python bench/audit_head.py --mode memory      # anywhere: the writer's own cost alone
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "desktop"))

from keybroker.core.audit.head import HEAD_PACE_SECONDS, VaultHeadStore
from keybroker.core.audit.log import AuditLog
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.core.vault.choice import load_system_backend
from keybroker.core.vault.memory import MemoryKeyring
from keybroker.core.vault.vault import Vault


def rig_active() -> bool:
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    return bool(bus) and os.environ.get("KEYBROKER_RIG_BUS") == bus


def daemon_cpu() -> float:
    """CPU seconds used so far by every gnome-keyring process (0 where there is none)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if not (process / "comm").read_text().startswith("gnome-keyring"):
                continue
            fields = (process / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class CountingVault(Vault):
    """The real `Vault`, counting its writes."""

    writes = 0

    def set(self, account: str, value: SecretValue | str) -> None:
        self.writes += 1
        super().set(account, value)


def run(vault: CountingVault, pace: float, seconds: float, interval: float) -> tuple[int, int, float, float]:
    """(releases, vault writes, this process's CPU ms per release, gnome-keyring's)."""
    home = Path(tempfile.mkdtemp(prefix="kb-bench-head-"))
    store = VaultHeadStore(vault)
    # pace 0: a write after every release it can, as before the pace
    audit = AuditLog(Catalog(home / "catalog.db"), store, deferred_head=True, head_pace=pace)
    vault.writes = 0
    releases = 0
    cpu, daemon, started = time.process_time(), daemon_cpu(), time.monotonic()
    while time.monotonic() - started < seconds:
        audit.append(AuditDecision.RELEASED, agent="bench", key=f"k{releases}")
        releases += 1
        time.sleep(interval)
    audit.flush(30)
    cpu, daemon = time.process_time() - cpu, daemon_cpu() - daemon
    audit.close()
    store.clear()  # nothing of the run left in the vault
    shutil.rmtree(home, ignore_errors=True)
    return releases, vault.writes, 1e3 * cpu / releases, 1e3 * daemon / releases


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode", choices=["system", "memory"], default="system" if rig_active() else "memory"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each side appends (default 5)")
    parser.add_argument(
        "--interval", type=float, default=0.0035, help="seconds between releases (default 0.0035)"
    )
    args = parser.parse_args()
    if args.mode == "system" and not rig_active():
        print("bench: --mode system only inside scripts/secret-service-session.sh", file=sys.stderr)
        return 2
    backend = load_system_backend() if args.mode == "system" else MemoryKeyring()
    vault = CountingVault(backend, service=f"keybroker-bench-{uuid.uuid4().hex[:8]}", timeout=30.0)
    every = f"a release every {1e3 * args.interval:g} ms for {args.seconds:g} s each"
    print(f"backend: {vault.backend_name}; {every}")
    print(
        "| head writer | releases | vault writes | writes per release | app CPU ms/release "
        "| gnome-keyring CPU ms/release |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = {}
    for name, pace in (("unpaced (before)", 0.0), (f"paced, {HEAD_PACE_SECONDS:g} s", HEAD_PACE_SECONDS)):
        releases, writes, app, daemon = run(vault, pace, args.seconds, args.interval)
        rows[name] = (app, daemon)
        print(f"| {name} | {releases} | {writes} | {writes / releases:.3f} | {app:.3f} | {daemon:.3f} |")
    vault.close()
    (before_app, before_daemon), (after_app, after_daemon) = rows.values()
    saved_app, saved_daemon = before_app - after_app, before_daemon - after_daemon
    print(f"\nsaved per release: app {saved_app:.3f} ms, gnome-keyring {saved_daemon:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
