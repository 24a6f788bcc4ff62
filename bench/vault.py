"""Vault throughput: set/get per second through Keybroker's `Vault` vs keyring's backend called directly.

One run, several rounds; each round measures every side in turn (the order rotates from round to round,
because a Secret Service's speed drifts as its collection file grows and shrinks) and prints ops/s; then
the medians and the ratios for set and get:

- `keyring`: keyring's own `SecretService.Keyring`, called directly (what a plain keyring user gets);
- `backend`: the backend Keybroker chose (`SecretServiceKeyring`, one kept-open connection), directly;
- `vault` / `vault async`: the same backend through `Vault` (worker thread, timeouts, format, mapping).

`vault / keyring` is what Keybroker costs or saves against plain keyring; `vault / backend` is the price
of the Vault layer alone. The real Secret Service only inside the test rig's private session:

    scripts/secret-service-session.sh .venv/bin/python bench/vault.py
    python bench/vault.py --mode memory          # anywhere: the overhead of the worker thread alone
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "desktop"))

from keyring.backend import KeyringBackend
from keyring.backends import SecretService

from keybroker.core.models import SecretValue
from keybroker.core.vault.choice import load_system_backend
from keybroker.core.vault.memory import MemoryKeyring
from keybroker.core.vault.vault import Vault

VALUE = "sk-bench-" + "x" * 40  # a typical API key
Rates = dict[str, float]


def rig_active() -> bool:
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    return bool(bus) and os.environ.get("KEYBROKER_RIG_BUS") == bus


def rate(n: int, fn: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


async def arate(n: int, fn: Callable[[int], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for i in range(n):
        await fn(i)
    return n / (time.perf_counter() - started)


def run_direct(backend: KeyringBackend, service: str, prefix: str, n: int) -> Rates:
    set_rate = rate(n, lambda i: backend.set_password(service, f"{prefix}-{i}", VALUE))
    get_rate = rate(n, lambda i: backend.get_password(service, f"{prefix}-{i}"))
    for i in range(n):
        backend.delete_password(service, f"{prefix}-{i}")
    return {"set": set_rate, "get": get_rate}


def run_vault(vault: Vault, n: int) -> Rates:
    value = SecretValue(VALUE)
    set_rate = rate(n, lambda i: vault.set(f"vault-{i}", value))
    get_rate = rate(n, lambda i: vault.get(f"vault-{i}"))
    for i in range(n):
        vault.delete(f"vault-{i}")
    return {"set": set_rate, "get": get_rate}


def run_vault_async(vault: Vault, n: int) -> Rates:
    value = SecretValue(VALUE)
    set_rate = asyncio.run(arate(n, lambda i: vault.aset(f"async-{i}", value)))
    get_rate = asyncio.run(arate(n, lambda i: vault.aget(f"async-{i}")))
    for i in range(n):
        vault.delete(f"async-{i}")
    return {"set": set_rate, "get": get_rate}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_mode = "system" if rig_active() else "memory"
    parser.add_argument("--mode", choices=["system", "memory"], default=default_mode)
    parser.add_argument("--ops", type=int, default=100, help="operations per measurement (default 100)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds, at least 3 (default 8)")
    args = parser.parse_args()
    rounds = max(3, args.rounds)
    if args.mode == "system" and not rig_active():
        print("bench: --mode system only inside scripts/secret-service-session.sh", file=sys.stderr)
        return 2

    service = f"keybroker-bench-{uuid.uuid4().hex[:8]}"
    backend: KeyringBackend = load_system_backend() if args.mode == "system" else MemoryKeyring()
    vault = Vault(backend, service=service, timeout=30.0)
    sides: dict[str, Callable[[], Rates]] = {}
    if args.mode == "system":
        stock = SecretService.Keyring()
        sides["keyring"] = lambda: run_direct(stock, service, "keyring", args.ops)
    sides["backend"] = lambda: run_direct(backend, service, "backend", args.ops)
    sides["vault"] = lambda: run_vault(vault, args.ops)
    sides["vault async"] = lambda: run_vault_async(vault, args.ops)
    print(f"backend: {vault.backend_name}; {args.ops} ops per measurement, {rounds} rounds")

    results: dict[str, list[Rates]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            results[name].append(sides[name]())
        line = " | ".join(
            f"{name} set {results[name][-1]['set']:6.1f} get {results[name][-1]['get']:7.1f}"
            for name in names
        )
        print(f"round {r + 1}: {line}")
    vault.close()

    medians = {
        name: {op: statistics.median(x[op] for x in results[name]) for op in ("set", "get")} for name in names
    }
    print("\nmedian ops/s        set        get")
    for name in names:
        print(f"{name:<14} {medians[name]['set']:9.1f} {medians[name]['get']:10.1f}")
    print("\nratio                      set      get")
    baselines = [b for b in ("keyring", "backend") if b in medians]
    for side in ("vault", "vault async"):
        for base in baselines:
            ratio = {op: medians[side][op] / medians[base][op] for op in ("set", "get")}
            print(f"{side + ' / ' + base:<24} {ratio['set']:6.3f}   {ratio['get']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
