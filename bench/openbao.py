# SPDX-License-Identifier: Apache-2.0
"""The team vault against the OS vault, same run (DESIGN §7: OpenBao `secrets show --reveal` within 1.2x
of the Secret Service):

1. `keybroker secrets show KEY --reveal`, whole processes: the rig's gnome-keyring (`KEYBROKER_VAULT=system`)
   and a `bao server -dev` on loopback (`KEYBROKER_VAULT=openbao`, `BAO_ADDR`, `BAO_TOKEN`), alternating
   round by round; bytecode cached as bench/cli.py does;
2. a bridged request that needs a value not yet cached: a blocking `message/send` (A2A 0.3) through
   Keybroker's own `Runtime` (as `keybroker serve` runs it) to bench/bridge_agent.py's echo agent, whose
   card demands one secret stored for it with an owner's *always* grant; before each request the broker
   forgets the cached value, so the pre-flight reads the vault. The same request with the value cached
   (no vault trip) is the floor.

Prints a table of medians and the OpenBao / Secret Service ratios; asserts nothing. Needs the test rig's
private Secret Service and the OpenBao peer (scripts/peers/openbao.sh):

    scripts/secret-service-session.sh .venv/bin/python bench/openbao.py [--runs 15] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "desktop"))
sys.path.insert(0, str(REPO))  # tests.peers.openbao: the dev server helper

os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from bridge_common import CARD_KEY, CARD_VALUE, READY, SEEN_MARK, SLUG  # noqa: E402

from cli import entry_argv, environment, rig_active, run  # noqa: E402

KEY = "BENCH_REVEAL"
VALUE = "sk-bench-" + "x" * 40
VAULTS = ("system", "openbao")


def vault_env(base: dict[str, str], vault: str, bao_url: str, bao_token: str) -> dict[str, str]:
    env = dict(base)
    env["KEYBROKER_VAULT"] = vault
    if vault == "openbao":
        env["BAO_ADDR"], env["BAO_TOKEN"] = bao_url, bao_token
    return env


def reveal_samples(entry: list[str], envs: dict[str, dict[str, str]], runs: int) -> dict[str, list[float]]:
    """Wall seconds of `secrets show --reveal` per vault, alternating which goes first each round."""
    for vault, env in envs.items():
        seconds, code = run([*entry, "secrets", "set", KEY], env, stdin=VALUE)
        if code != 0:
            raise SystemExit(f"`secrets set` failed with exit {code} on the {vault} vault")
        run([*entry, "secrets", "show", KEY, "--reveal"], env)  # warm-up: page cache, .pyc files
    samples: dict[str, list[float]] = {v: [] for v in envs}
    for n in range(runs):
        order = list(envs) if n % 2 == 0 else list(reversed(envs))
        for vault in order:
            seconds, code = run([*entry, "secrets", "show", KEY, "--reveal"], envs[vault])
            if code != 0:
                raise SystemExit(f"`secrets show --reveal` exited {code} on the {vault} vault")
            samples[vault].append(seconds)
    return samples


@contextmanager
def echo_agent() -> Iterator[str]:
    """bench/bridge_agent.py on a free port; its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "bridge_agent.py")], stdout=subprocess.PIPE, text=True, cwd=HERE
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != READY:
            raise SystemExit(f"the echo agent did not start: {line}")
        yield f"http://127.0.0.1:{line[1]}"
    finally:
        proc.terminate()
        proc.wait(10)


async def bridged_samples(
    agent_url: str, envs: dict[str, dict[str, str]], requests: int, rounds: int
) -> dict[str, list[float]]:
    """Seconds per bridged `message/send`, per vault with the value dropped from the cache first, and
    with it cached; `rounds` alternate the vaults, each sending `requests` requests."""
    import httpx

    from keybroker.core.broker.prompts import DecliningPrompter
    from keybroker.core.models import SecretValue
    from keybroker.wiring.runtime import Runtime, RuntimeOptions

    runtimes: dict[str, tuple[Runtime, str]] = {}
    samples: dict[str, list[float]] = {}
    try:
        for vault, env in envs.items():
            runtime = Runtime(RuntimeOptions(port=0, environ=env), DecliningPrompter("benchmark"))
            await runtime.start()
            assert runtime.services is not None and runtime.instance is not None
            runtime.services.agents.add(agent_url, slug=SLUG)
            record = runtime.services.secrets.set(CARD_KEY, SecretValue(CARD_VALUE), owner=SLUG).record
            runtimes[vault] = (runtime, record.secret_id)
        async with httpx.AsyncClient(trust_env=False, timeout=30.0) as client:
            for n in range(rounds):
                order = list(runtimes) if n % 2 == 0 else list(reversed(runtimes))
                for vault in order:
                    runtime, secret_id = runtimes[vault]
                    assert runtime.instance is not None and runtime.broker is not None
                    url = f"{runtime.instance.url}/agents/{SLUG}"
                    for cached in (False, True):
                        label = f"{vault} (cached)" if cached else vault
                        for i in range(requests):
                            if not cached:
                                runtime.broker.forget(secret_id)
                            started = time.perf_counter()
                            answer = await client.post(url, json=_send(f"hello bench {n}.{i}"))
                            samples.setdefault(label, []).append(time.perf_counter() - started)
                            if answer.status_code != 200 or SEEN_MARK not in answer.text:
                                raise SystemExit(
                                    f"bad answer through the bridge ({vault}): {answer.text[:300]}"
                                )
    finally:
        for runtime, _ in runtimes.values():
            await runtime.stop()
    return samples


def _send(text: str) -> dict[str, object]:
    import uuid

    message = {
        "kind": "message",
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "parts": [{"kind": "text", "text": text}],
    }
    return {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="`--reveal` rounds (default 15)")
    parser.add_argument("--requests", type=int, default=100, help="bridged requests per round and case")
    parser.add_argument("--rounds", type=int, default=3, help="bridged rounds (default 3)")
    args = parser.parse_args()
    if not rig_active():
        raise SystemExit("run inside scripts/secret-service-session.sh: the Secret Service side needs it")
    from tests.peers import openbao

    entry = entry_argv("module")
    homes = {v: Path(tempfile.mkdtemp(prefix=f"kb-bench-bao-{v}-")) for v in VAULTS}
    try:
        with openbao.dev_server() as bao:
            envs = {
                v: vault_env(environment(homes[v], v, homes[v] / "pycache"), v, bao.url, bao.token)
                for v in VAULTS
            }
            reveal = reveal_samples(entry, envs, args.runs)
            with echo_agent() as agent_url:
                bridged = asyncio.run(bridged_samples(agent_url, envs, args.requests, args.rounds))
    finally:
        for home in homes.values():
            shutil.rmtree(home, ignore_errors=True)
    ratio = statistics.median(reveal["openbao"]) / statistics.median(reveal["system"])
    print(f"\n`secrets show --reveal`, whole process, median of {args.runs} runs each (ms)\n")
    print("| vault | median | min | max |")
    print("| --- | --- | --- | --- |")
    for vault, label in (("system", "Secret Service (gnome-keyring)"), ("openbao", "OpenBao dev server")):
        values = reveal[vault]
        print(f"| {label} | {ms(values)} | {min(values) * 1000:.1f} | {max(values) * 1000:.1f} |")
    print(f"\nOpenBao / Secret Service: {ratio:.2f}x (target <= 1.2x)")
    count = args.requests * args.rounds
    print(f"\nbridged blocking message/send (A2A 0.3), median of {count} requests each (ms)\n")
    print("| vault | value not cached (vault read) | value cached | vault read costs |")
    print("| --- | --- | --- | --- |")
    for vault in VAULTS:
        cold, warm = bridged[vault], bridged[f"{vault} (cached)"]
        extra = (statistics.median(cold) - statistics.median(warm)) * 1000
        print(f"| {vault} | {ms(cold)} | {ms(warm)} | {extra:.1f} |")
    cold_ratio = statistics.median(bridged["openbao"]) / statistics.median(bridged["system"])
    print(f"\nOpenBao / Secret Service, request with a value not cached: {cold_ratio:.2f}x")
    print(f"Load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
