# SPDX-License-Identifier: Apache-2.0
"""Model gateway overhead (issue 14): streaming chat through the gateway vs straight to the provider.

    python bench/gateway.py            # 3 rounds x 120 requests per target and concurrency
    python bench/gateway.py --quick    # smoke run: 1 round x 24 requests

The provider is the LiteLLM proxy with its `mock_response` models (tests/peers/litellm.py; no
network), started here; the gateway is a `BridgeApp` with one provider and one agent's token
(gateway_server.py), in its own process. Each request is a streamed `/chat/completions` with
`stream_options.include_usage`, read to `[DONE]`; the time to first token is taken when the first
chunk with content arrives. Targets alternate order each round; the figures are medians over rounds.

Targets (issue 14): time to first token added <= 1 ms at p50, throughput >= 0.9x direct at
concurrency 8. Printed, never asserted: the machine's load moves them (the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.peers.litellm starts the proxy

from tests.peers import litellm  # noqa: E402

CONCURRENCY = (1, 8)


@dataclass
class Measured:
    """One target at one concurrency in one round."""

    rps: float
    ttft_ms: list[float]
    failures: int

    def p(self, q: float) -> float:
        ordered = sorted(self.ttft_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _one(client: httpx.AsyncClient, base: str, key: str) -> float | None:
    body = {
        "model": litellm.CHAT_MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first: float | None = None
    text = []
    async with client.stream(
        "POST", f"{base}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        if response.status_code != 200:
            return None
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if first is None:
                        first = time.perf_counter() - start
                    text.append(content)
    return first if "".join(text) == litellm.MOCK_REPLY else None


async def measure(base: str, key: str, concurrency: int, total: int) -> Measured:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(trust_env=False, timeout=60.0, limits=limits) as client:
        await _one(client, base, key)  # warm the pool
        queue = list(range(total))
        ttft: list[float] = []
        failures = 0

        async def worker() -> None:
            nonlocal failures
            while queue:
                queue.pop()
                got = await _one(client, base, key)
                if got is None:
                    failures += 1
                else:
                    ttft.append(got * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return Measured(total / wall, ttft, failures)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def run(proxy: litellm.LiteLLMProxy, gateway: dict[str, str], rounds: int, total: int) -> int:
    targets = {
        "direct": (proxy.api_base, proxy.master_key),
        "gateway": (gateway["api_base"], gateway["token"]),
    }
    results: dict[tuple[str, int], list[Measured]] = {}
    for r in range(rounds):
        order = list(targets) if r % 2 == 0 else list(reversed(targets))
        for c in CONCURRENCY:
            for name in order:
                base, key = targets[name]
                results.setdefault((name, c), []).append(await measure(base, key, c, total))
    print("\n| target | c | req/s | TTFT p50 ms | TTFT p90 ms | failed |")
    print("|---|---|---|---|---|---|")
    for c in CONCURRENCY:
        for name in targets:
            got = results[(name, c)]
            rps, p50, p90 = (
                _median([m.rps for m in got]),
                _median([m.p(0.5) for m in got]),
                _median([m.p(0.9) for m in got]),
            )
            print(f"| {name} | {c} | {rps:.1f} | {p50:.2f} | {p90:.2f} | {sum(m.failures for m in got)} |")
    print("\n| concurrency | TTFT added p50 (ms) | throughput gateway/direct |")
    print("|---|---|---|")
    for c in CONCURRENCY:
        added = [
            g.p(0.5) - d.p(0.5) for g, d in zip(results[("gateway", c)], results[("direct", c)], strict=True)
        ]
        ratio = [g.rps / d.rps for g, d in zip(results[("gateway", c)], results[("direct", c)], strict=True)]
        print(f"| {c} | {_median(added):+.2f} | {_median(ratio):.2f}x |")
    print(
        f"\nTargets: TTFT added <= 1 ms p50; throughput >= 0.9x at concurrency 8. Rounds: {rounds}, "
        f"{total} requests per target and concurrency."
    )
    print("Load average (1/5/15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    failed = sum(m.failures for got in results.values() for m in got)
    return 1 if failed == sum(len(got) * total for got in results.values()) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=120)
    args = parser.parse_args()
    rounds, total = (1, 24) if args.quick else (args.rounds, args.requests)
    with tempfile.TemporaryDirectory(prefix="kb-bench-gw-") as home, litellm.litellm_proxy() as proxy:
        env = {
            **os.environ,
            "KEYBROKER_HOME": home,
            "KEYBROKER_VAULT": "memory",
            "KB_BENCH_PROVIDER_KEY": proxy.master_key,
        }
        server = subprocess.Popen(
            [sys.executable, str(HERE / "gateway_server.py"), proxy.api_base, litellm.CHAT_MODEL],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if not line:
                print("the gateway did not start", file=sys.stderr)
                return 1
            gateway = json.loads(line)
            started = f"started in {proxy.start_seconds:.1f} s"
            print(f"LiteLLM proxy {proxy.url} ({started}); gateway port {gateway['port']}")
            return asyncio.run(run(proxy, gateway, rounds, total))
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
