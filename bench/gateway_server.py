# SPDX-License-Identifier: Apache-2.0
"""The model gateway alone, for bench/gateway.py: a `BridgeApp` whose `ModelAccess` has one provider.

    KB_BENCH_PROVIDER_KEY=<key> python bench/gateway_server.py <provider api_base> <model>

Opens a memory-vault data home in `$KEYBROKER_HOME`, adds the provider (its key from the environment,
never argv), answers a bench agent's chat demand with an *always* grant, mints the gateway token the
agent would get, serves the bridge on a free loopback port and prints one JSON line: `{"port",
"token", "api_base"}`. Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from keybroker.core.bridge import BridgeApp, running_bridge
from keybroker.core.broker.prompts import DecliningPrompter
from keybroker.core.llm.access import ModelAccess
from keybroker.core.llm.grants import new_model_grant_id
from keybroker.core.llm.records import ModelGrant
from keybroker.core.models import AgentRecord, GrantScope, ModelDemand, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.wiring.services import open_services

SLUG = "bench"
PROVIDER = "bench-provider"


class NoSecrets:
    """The bridge's secret source: this bench serves no agent, only the gateway."""

    async def fulfil(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("no agent is bridged in the gateway bench")


async def main(api_base: str, model: str) -> None:
    services = open_services(vault=open_vault("memory"))
    access = ModelAccess(
        catalog=services.catalog,
        vault=services.vault,
        audit=services.audit,
        prompter=DecliningPrompter("bench"),
    )
    access.providers.add(PROVIDER, api_base, SecretValue(os.environ["KB_BENCH_PROVIDER_KEY"]))
    access.providers.set_models(PROVIDER, [model])
    demand = ModelDemand("llm", "default", None, (f"openai/{model}",))
    agent = AgentRecord(
        slug=SLUG,
        url="http://127.0.0.1:1",
        card_url="",
        name="bench",
        description="",
        protocol_versions=("0.3",),
        fingerprint="b" * 64,
        model_demands=(demand,),
    )
    grant = ModelGrant(
        new_model_grant_id(),
        SLUG,
        demand.ref,
        PROVIDER,
        model,
        False,
        GrantScope.ALWAYS,
        0.0,
        card_fingerprint=agent.fingerprint,
    )
    access.grants.add(grant, caller=None, detail="bench")
    answer = await access.fulfil_models(agent, [demand], phase="preflight", task_id=None, context_id=None)
    token = answer.releases[demand.ref].api_key.reveal()
    app = BridgeApp(lambda slug: None, NoSecrets(), models=access)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running_bridge(app, 0) as port:
            base = f"http://127.0.0.1:{port}/models/{SLUG}/v1"
            print(json.dumps({"port": port, "token": token, "api_base": base}), flush=True)
            await stop.wait()
    finally:
        await app.aclose()
        services.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
