# SPDX-License-Identifier: Apache-2.0
"""What cutting a token-by-token stream costs: direct to an agent vs through the Keybroker bridge.

    python bench/stream_chunks.py                 # 3 rounds, 1 and 100 released values
    python bench/stream_chunks.py --quick         # one round, 1 released value

An LLM-backed agent streams its answer one to three characters an event (PROTOCOL pitfall 26); the
bridge holds back any end of the text that could start a released value, even one character, until
the next event shows it does not (core/bridge/chunks.py). This measures what that costs, with the
agent (stream_agent.py) pinned to the first CPU and the bridge (stream_bridge.py: the `Runtime`
`keybroker serve` runs, over a memory vault) to the second, the client unpinned in this process:

- *burst*: COUNT one-character chunks as fast as the agent sends them: events and characters a
  second the client receives, from the request to the last event;
- *paced*: 200 one-character chunks 2 ms apart: for each character, the time from the agent sending
  it (its chunk's metadata says when, on the shared monotonic clock) to the client holding it joined;
  the bridge adds a hop, and one event's wait for each character that could start a value.

The bridge releases N values to the agent before each message (its card declares N demands; values
stored with an owner's grant, so nothing prompts) and cuts all their forms from every event: N=1 is
the usual case, N=100 the most one card may declare (the bridge remembers up to 256 per agent).
Direct requests carry the same fulfilments themselves. Rounds alternate direct and bridged; figures
are medians over rounds, ratios bridged / direct. Prints ratios, asserts nothing; a failed stream
stops the run (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from bridge_common import SECRETS_URI, SLUG
from bridge_procs import HERE, Children, cpu_plan, loadavg
from stream_agent import demand_keys

PACED_COUNT, PACED_GAP_US = 200, 2000


@dataclass
class Stream:
    """What the client saw of one streamed answer."""

    events: int
    chars: int
    seconds: float
    #: Per character: microseconds from the agent sending it to the client holding it.
    delays_us: list[float]


def _message(text: str, keys: list[str], direct: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "ROLE_USER", "messageId": str(uuid.uuid4()), "parts": [{"text": text}]}
    if direct:  # a client without the bridge puts the values in itself
        fulfilled = {k: {"secret": f"sk-bench-direct-{n:03d}-0123456789"} for n, k in enumerate(keys)}
        message["metadata"] = {SECRETS_URI: {"secret_fulfillments": fulfilled}}
    return {"jsonrpc": "2.0", "id": 1, "method": "SendStreamingMessage", "params": {"message": message}}


async def stream_once(
    client: httpx.AsyncClient, url: str, text: str, keys: list[str], direct: bool
) -> Stream:
    """Send `text` as a streaming message to `url` and follow the answer to its end."""
    sent_at: dict[int, int] = {}
    joined = 0
    delays: list[float] = []
    events = 0
    start = time.monotonic_ns()
    body = _message(text, keys, direct)
    async with client.stream("POST", url, json=body, headers={"A2A-Version": "1.0"}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            now = time.monotonic_ns()
            data = json.loads(line[5:])
            if "error" in data:
                raise RuntimeError(f"{url}: {data['error']}")
            events += 1
            update = data["result"].get("artifactUpdate")
            if update is None:
                continue
            artifact = update["artifact"]
            meta = artifact.get("metadata") or {}
            if "i" in meta:
                sent_at[int(meta["i"])] = int(meta["t"])
            for part in artifact.get("parts", []):
                for _ in part.get("text", ""):
                    if joined in sent_at:
                        delays.append((now - sent_at[joined]) / 1000)
                    joined += 1
    return Stream(events, joined, (time.monotonic_ns() - start) / 1e9, delays)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


Figures = dict[str, dict[str, list[float]]]


async def measure(urls: dict[str, str], keys: list[str], rounds: int, count: int) -> Figures:
    """Alternating rounds of burst and paced streams to each target; per target, per figure, per round."""
    figures: Figures = {t: {} for t in urls}
    async with httpx.AsyncClient(trust_env=False, timeout=120) as client:
        for target, url in urls.items():  # warm-up: imports, connections, the bridge's first channel
            await stream_once(client, url, f"stream 20 1 {PACED_GAP_US}", keys, target == "direct")
        for r in range(rounds):
            order = list(urls) if r % 2 == 0 else list(reversed(urls))
            for target in order:
                direct = target == "direct"
                url = urls[target]
                burst = await stream_once(client, url, f"stream {count} 1 0", keys, direct)
                paced = await stream_once(client, url, f"stream {PACED_COUNT} 1 {PACED_GAP_US}", keys, direct)
                if burst.chars != count or paced.chars != PACED_COUNT:
                    got = f"{burst.chars}/{count} and {paced.chars}/{PACED_COUNT} characters"
                    raise RuntimeError(f"{target}: {got}")
                row = figures[target]
                row.setdefault("events/s", []).append(burst.events / burst.seconds)
                row.setdefault("chars/s", []).append(burst.chars / burst.seconds)
                row.setdefault("delay p50 us", []).append(_pct(paced.delays_us, 0.5))
                row.setdefault("delay p90 us", []).append(_pct(paced.delays_us, 0.9))
    return figures


def report(demands: int, figures: Figures) -> None:
    direct, bridged = figures["direct"], figures["bridged"]
    print(f"\n### {demands} released value(s)\n")
    print("| figure | direct | bridged | bridged / direct |")
    print("| --- | ---: | ---: | ---: |")
    for name in direct:
        ratios = [b / d for b, d in zip(bridged[name], direct[name], strict=True)]
        d, b = statistics.median(direct[name]), statistics.median(bridged[name])
        print(f"| {name} | {d:,.0f} | {b:,.0f} | {statistics.median(ratios):.2f}x |")
    added = [b - d for b, d in zip(bridged["delay p50 us"], direct["delay p50 us"], strict=True)]
    print(f"\nadded latency per character (p50): {statistics.median(added) / 1000:.2f} ms")


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=400, help="chunks in a burst")
    parser.add_argument("--demands", default="1,100", help="released values to try, comma-separated")
    parser.add_argument("--quick", action="store_true", help="one round, 1 released value")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.demands = 1, "1"
    plan = cpu_plan(not args.no_pin)
    print(f"stream benchmark: {plan.description}; load average {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="keybroker-bench-") as scratch:
        for demands in (int(d) for d in args.demands.split(",")):
            children = Children(Path(scratch))
            try:
                agent = children.start("agent", ["stream_agent.py", "--demands", str(demands)], plan.agent)
                agent_url = f"http://127.0.0.1:{agent.ready_ports()['READY']}"
                home = {"KEYBROKER_HOME": str(Path(scratch) / f"home-{demands}")}
                argv = ["stream_bridge.py", agent_url, "--demands", str(demands)]
                bridge = children.start("bridge", argv, plan.server, env=home)
                bridge_url = f"http://127.0.0.1:{bridge.ready_ports()['READY']}/agents/{SLUG}"
                urls = {"direct": agent_url + "/", "bridged": bridge_url}
                figures = asyncio.run(measure(urls, demand_keys(demands), args.rounds, args.count))
                report(demands, figures)
            except RuntimeError as exc:
                print(f"stream benchmark failed: {exc}", file=sys.stderr)
                raise SystemExit(1) from None
            finally:
                children.stop_all()
    print(f"\nload average after: {loadavg()} (compare only runs at a similar load); scripts in {HERE}")


if __name__ == "__main__":
    main()
