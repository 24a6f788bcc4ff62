# SPDX-License-Identifier: Apache-2.0
"""The streaming benchmark's agent: an a2a-sdk 1.x agent that streams its answer one token at a time.

`python bench/stream_agent.py [--demands N]` binds a free port on 127.0.0.1, prints `READY <port>` and
serves until SIGTERM. Its card declares N secret demands (CARD_KEY and `bench_extra_<i>`), so a bridge
releases N values to it before each message and cuts their forms from every answer. A message
`stream COUNT SIZE GAP_US` answers with one artifact streamed in COUNT chunks of SIZE characters of
plain English (`append: true` after the first, the last one says so), GAP_US microseconds apart (0: as
fast as it can), then completes. Each chunk's artifact metadata says when it was sent:
`{"i": <index of its first character>, "t": <time.monotonic_ns()>}` (one clock for every process).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time

os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

import uvicorn
from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentExtension, AgentInterface, AgentSkill
from bridge_agent import BoundedTaskStore
from bridge_common import CARD_KEY, SECRETS_URI, listen_loopback, say_ready
from starlette.applications import Starlette

#: What the agent streams, over and over.
TEXT = "the quick brown fox jumps over the lazy dog, then naps. "


def demand_keys(count: int) -> list[str]:
    """The keys of the `count` demands the card declares."""
    return [CARD_KEY, *(f"bench_extra_{i}" for i in range(1, count))]


class StreamingExecutor(AgentExecutor):
    """Streams `COUNT` chunks of `SIZE` characters (see the module docstring)."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        task = new_task_from_user_message(message)
        task.id = context.task_id or task.id
        task.context_id = context.context_id or task.context_id
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        _, count, size, gap_us = context.get_user_input().split()
        n, width, gap = int(count), int(size), int(gap_us) / 1e6
        text = (TEXT * (n * width // len(TEXT) + 1))[: n * width]
        for k in range(n):
            await updater.add_artifact(
                [new_text_part(text[k * width : (k + 1) * width])],
                artifact_id="answer",
                name="answer" if k == 0 else None,
                metadata={"i": k * width, "t": time.monotonic_ns()},
                append=k > 0,
                last_chunk=k == n - 1,
            )
            await asyncio.sleep(gap)  # 0 still lets the server write the event out
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


def build_card(base_url: str, demands: int) -> AgentCard:
    """JSON-RPC 1.0; streaming; `demands` declared secret demands."""
    extension = AgentExtension(uri=SECRETS_URI, required=False)
    extension.params.update({"secret_demands": {k: {"name": k} for k in demand_keys(demands)}})
    return AgentCard(
        name="keybroker-bench-stream",
        description="Benchmark agent: streams plain text one token at a time.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base_url + "/", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=True, extensions=[extension]),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="stream", name="Stream", description="Streams text.", tags=["bench"])],
    )


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--demands", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sock = listen_loopback()
    port = int(sock.getsockname()[1])
    card = build_card(f"http://127.0.0.1:{port}", args.demands)
    handler = DefaultRequestHandler(
        agent_executor=StreamingExecutor(), task_store=BoundedTaskStore(), agent_card=card
    )
    app = Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, rpc_url="/")])
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, date_header=False, server_header=False, lifespan="off"
    )
    say_ready(port)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
