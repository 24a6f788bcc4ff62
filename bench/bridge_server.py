# SPDX-License-Identifier: Apache-2.0
"""The bridge under test: Keybroker's own `Runtime`, as `keybroker serve` runs it, over a memory vault.

`python bench/bridge_server.py AGENT_URL [--no-caller] [--no-sync] [--profile FILE]`, with `KEYBROKER_HOME`
pointing at a scratch directory: opens the services (`KEYBROKER_VAULT=memory`), starts the runtime on
a free port (a real `BridgeApp` behind `running_bridge`, the management API behind it), adds the
agent at AGENT_URL as `echo` and stores a value for each of its demands for it (`SecretStore.set(...,
owner="echo")`: an owner's *always* grant), so no prompt ever shows; the prompter declines anyway.
Prints `READY <port>` and serves until SIGTERM or SIGINT. It runs on the loop `keybroker serve` runs on
(uvloop where installed; `KEYBROKER_LOOP=asyncio` and `KEYBROKER_HTTP=h11` choose asyncio's and h11).

Diagnostics: `--no-caller` serves a second `BridgeApp` over the same broker without the calling
process lookup (`caller=None`) and prints its port as `READY2 <port>`; `--no-sync` makes no catalog
transaction durable (`Database.transaction(durable=...)` ignored: the audit event that lets a value
out is then not synced before the value leaves, which Keybroker itself never allows), to measure what
that sync costs a request; `--profile FILE` runs the process under cProfile and writes the stats to
FILE when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

# Before a2a-sdk is imported (Runtime.start sets it too).
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "desktop"))

from bridge_common import CARD_KEY, CARD_VALUE, RUNTIME_KEY, RUNTIME_VALUE, SLUG, say_ready

from keybroker.core.broker.prompts import DecliningPrompter
from keybroker.core.models import SecretValue
from keybroker.system.event_loop import run
from keybroker.system.heap import settle
from keybroker.wiring.runtime import Runtime, RuntimeOptions


@contextlib.asynccontextmanager
async def bench_runtime(agent_url: str, environ: dict[str, str]) -> AsyncIterator[Runtime]:
    """A started `Runtime` over a memory vault, the agent at `agent_url` added with its values stored.

    `environ` must name a scratch `KEYBROKER_HOME`. The runtime stops when the block ends.
    """
    environ = dict(environ)
    environ["KEYBROKER_VAULT"] = "memory"
    if "KEYBROKER_HOME" not in environ:
        raise SystemExit("KEYBROKER_HOME must point at a scratch directory")
    runtime = Runtime(RuntimeOptions(port=0, environ=environ), DecliningPrompter("benchmark: no prompts"))
    try:
        await runtime.start()
        services = runtime.services
        assert services is not None and runtime.broker is not None
        services.agents.add(agent_url, slug=SLUG)
        services.secrets.set(CARD_KEY, SecretValue(CARD_VALUE), owner=SLUG)
        services.secrets.set(RUNTIME_KEY, SecretValue(RUNTIME_VALUE), owner=SLUG)
        yield runtime
    finally:
        await runtime.stop()


async def serve(agent_url: str, no_caller: bool) -> None:
    """Run the bridge until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with bench_runtime(agent_url, dict(os.environ)) as runtime, contextlib.AsyncExitStack() as stack:
        services, broker, info = runtime.services, runtime.broker, runtime.instance
        assert services is not None and broker is not None and info is not None
        if no_caller:
            from keybroker.core.bridge import BridgeApp, running_bridge

            bare = BridgeApp(services.catalog.find_agent, broker, caller=None)
            stack.push_async_callback(bare.aclose)
            port2 = await stack.enter_async_context(running_bridge(bare, 0))
            sys.stdout.write(f"READY2 {port2}\n")
        settle()  # as `keybroker serve` does
        say_ready(info.port)
        await stop.wait()


def _never_durable() -> None:
    """`--no-sync`: every catalog transaction commits as a non-durable one does (a diagnostic only)."""
    from keybroker.core.catalog.db import Database

    synced = Database.transaction

    def transaction(self: Database, *, durable: bool = False, policy: bool = True) -> object:
        return synced(self, durable=False, policy=policy)

    Database.transaction = transaction  # type: ignore[assignment,method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("agent_url")
    parser.add_argument("--no-caller", action="store_true")
    parser.add_argument("--no-sync", action="store_true")
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args()
    if args.no_sync:
        _never_durable()
    logging.basicConfig(level=logging.WARNING)
    if not args.profile:
        run(serve(args.agent_url, args.no_caller), os.environ)
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run(serve(args.agent_url, args.no_caller), os.environ)
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
