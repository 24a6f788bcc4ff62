# SPDX-License-Identifier: Apache-2.0
"""The streaming benchmark's bridge: bridge_server.py's `Runtime`, with a value for each extra demand.

`python bench/stream_bridge.py AGENT_URL --demands N`, with `KEYBROKER_HOME` pointing at a scratch
directory: the runtime of bridge_server.py (memory vault, the agent added as `echo` with a value for
CARD_KEY), plus a value for each `bench_extra_<i>` the agent declares (stream_agent.py), so the bridge
releases N values before each message and cuts N values' forms from every event. Prints `READY <port>`
and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from bridge_common import SLUG, say_ready
from bridge_server import bench_runtime
from stream_agent import demand_keys

from keybroker.core.models import SecretValue


async def serve(agent_url: str, demands: int) -> None:
    """Run the bridge until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with bench_runtime(agent_url, dict(os.environ)) as runtime:
        assert runtime.services is not None and runtime.instance is not None
        for n, key in enumerate(demand_keys(demands)[1:], start=1):
            value = SecretValue(f"sk-bench-extra-{n:03d}-0123456789abcdef")
            runtime.services.secrets.set(key, value, owner=SLUG)
        say_ready(runtime.instance.port)
        await stop.wait()


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("agent_url")
    parser.add_argument("--demands", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args.agent_url, args.demands))


if __name__ == "__main__":
    main()
