"""`keybroker send S TEXT`: the built-in A2A client, through the running bridge (like `op run`)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from keybroker.cli.output import info

if TYPE_CHECKING:  # the client and the core load when `send` runs, not while the parser is built
    from keybroker.cli.context import CommandContext
    from keybroker.system.instance import InstanceInfo

#: Blocking sends wait for the user at a prompt (5 min by default): no read timeout on the stream.
CONNECT_TIMEOUT = 5.0
#: The prompt timeout when the running instance does not say its own (`serve --prompt-timeout`).
DEFAULT_PROMPT_TIMEOUT = 300.0
#: What a run gets beyond the prompt by default: Agent Stack cancels a run 10 min after its last
#: output (PROTOCOL §2.1), so a run quiet for longer is not coming back.
RUN_ALLOWANCE = 600.0

_END_STATES = {
    "TASK_STATE_COMPLETED": "completed",
    "TASK_STATE_FAILED": "failed",
    "TASK_STATE_CANCELED": "canceled",
    "TASK_STATE_REJECTED": "rejected",
    "TASK_STATE_INPUT_REQUIRED": "input-required",
    "TASK_STATE_AUTH_REQUIRED": "auth-required",
}


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {
    "send": "send a message to an agent through the bridge and print the reply",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `send`."""
    p = sub.add_parser("send", help=COMMANDS["send"])
    p.add_argument("slug")
    p.add_argument("text")
    p.add_argument("--context", metavar="ID", help="continue this conversation (contextId)")
    p.add_argument("--task", metavar="ID", help="answer this task (e.g. after input-required)")
    p.add_argument("--stream", action="store_true", help="print events as they arrive")
    p.add_argument("--json", action="store_true", help="print every event as JSON (one per line)")
    p.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        help="give up after S seconds without the run ending (exit 6); default: the running "
        "Keybroker's prompt timeout (5 min unless `serve --prompt-timeout`) plus 10 min for the run",
    )
    p.set_defaults(func=cmd_send)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError("seconds must be more than 0 and at most a week")
    return value


class Outcome:
    """What the run came to (a plain class: `dataclasses` would cost `--help` its start-up time)."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.task_id: str | None = None
        self.context_id: str | None = None
        self.texts: list[str] = []
        self.status_note: str | None = None
        #: Artifact texts shown so far: a final status message often repeats the answer word for word.
        self.artifact_texts: set[str] = set()


def _part_texts(parts: Any) -> list[str]:
    return [p.text for p in parts if p.text]


def _absorb(event: Any, out: Outcome) -> list[str]:
    """Update `out` from one StreamResponse; return the new text to show."""
    kind = event.WhichOneof("payload")
    new: list[str] = []
    if kind == "message":
        new = _part_texts(event.message.parts)
        out.context_id = event.message.context_id or out.context_id
        out.state = out.state or "completed"
    elif kind == "task":
        task = event.task
        out.task_id, out.context_id = task.id, task.context_id
        out.state = _END_STATES.get(_state_name(task.status.state), out.state)
        for artifact in task.artifacts:
            new += _part_texts(artifact.parts)
        out.artifact_texts.update(new)
        if task.status.HasField("message"):
            note = " ".join(_part_texts(task.status.message.parts))
            out.status_note = note or out.status_note
            if out.state == "completed":
                new += _unseen(_part_texts(task.status.message.parts), out)
    elif kind == "status_update":
        upd = event.status_update
        out.task_id, out.context_id = upd.task_id, upd.context_id
        out.state = _END_STATES.get(_state_name(upd.status.state), out.state)
        if upd.status.HasField("message"):
            texts = _part_texts(upd.status.message.parts)
            out.status_note = " ".join(texts) or out.status_note
            new += _unseen(texts, out)
    elif kind == "artifact_update":
        new = _part_texts(event.artifact_update.artifact.parts)
        out.artifact_texts.update(new)
    return new


def _unseen(texts: list[str], out: Outcome) -> list[str]:
    """Status texts that do not repeat an artifact already shown."""
    return [t for t in texts if t not in out.artifact_texts]


def _state_name(state: int) -> str:
    from a2a.types import TaskState

    return str(TaskState.Name(state))


async def _send(url: str, args: argparse.Namespace, token: str | None) -> Outcome:
    import json
    import uuid

    import httpx
    from a2a.client import ClientCallContext, ClientConfig, ClientFactory
    from a2a.client.errors import A2AClientError
    from a2a.client.service_parameters import ServiceParametersFactory, with_a2a_extensions
    from a2a.types import Message, Part, Role, SendMessageRequest
    from a2a.utils.errors import A2AError
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

    from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI
    from keybroker.core.errors import AgentUnreachable, BridgeError

    # This client speaks the secrets extension: after a declined prompt the bridge hands it the agent's
    # demand (exit 5) instead of resuming the task without the value (bridge/run.py).
    speaks = ServiceParametersFactory.create([with_a2a_extensions([SECRETS_EXTENSION_URI])])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = Outcome()
    async with httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        headers=headers,
        timeout=httpx.Timeout(connect=CONNECT_TIMEOUT, read=None, write=30.0, pool=None),
    ) as http:
        try:
            client = await ClientFactory(ClientConfig(httpx_client=http, streaming=True)).create_from_url(url)
        except (A2AClientError, httpx.HTTPError) as exc:
            raise AgentUnreachable(f"the bridge does not answer for this agent at {url}: {exc}") from None
        message = Message(
            role=Role.ROLE_USER,
            message_id=str(uuid.uuid4()),
            parts=[Part(text=args.text)],
            context_id=args.context or "",
            task_id=args.task or "",
        )
        try:
            request = SendMessageRequest(message=message)
            async for event in client.send_message(
                request, context=ClientCallContext(service_parameters=speaks)
            ):
                new = _absorb(event, out)
                if args.json:
                    sys.stdout.write(json.dumps(MessageToDict(event), ensure_ascii=False) + "\n")
                elif args.stream and new:
                    sys.stdout.write("\n".join(new) + "\n")
                elif new:
                    out.texts += new
                sys.stdout.flush()
        except (A2AClientError, httpx.HTTPError) as exc:
            raise BridgeError(f"the run broke off: {exc}") from None
        except A2AError as exc:
            # The bridge answered with a JSON-RPC error (a dead or failing agent, a refused request):
            # its text is the bridge's own, already cleared of any value it injected.
            raise BridgeError(f"the bridge answered with an error: {exc}") from None
        finally:
            await client.close()
    return out


def default_timeout(status: dict[str, Any] | None) -> float:
    """The running instance's prompt timeout (from its `/status` details) plus `RUN_ALLOWANCE`."""
    details = (status or {}).get("details")
    given = details.get("prompt_timeout") if isinstance(details, dict) else None
    prompt = float(given) if isinstance(given, int | float) and given > 0 else DEFAULT_PROMPT_TIMEOUT
    return prompt + RUN_ALLOWANCE


async def _send_within(url: str, args: argparse.Namespace, token: str | None, limit: float) -> Outcome:
    """`_send`, stopped after `limit` seconds (a hung agent accepts and never answers; the bridge
    waits as long as the agent's stream stays open, by design)."""
    import asyncio

    from keybroker.core.errors import BridgeError

    try:
        return await asyncio.wait_for(_send(url, args, token), limit)
    except TimeoutError:
        raise BridgeError(
            f"no end of the run within {limit:g} s; the agent may still be working on it",
            hint="send again with a longer --timeout, or check the agent",
        ) from None


def _not_listening(inst: InstanceInfo) -> str:
    """Why a running instance has no bridge to send through, and what to do."""
    from keybroker.system.instance import BridgeState

    if inst.bridge is BridgeState.PAUSED:
        return "the bridge is paused; resume it: Tray → Resume bridge"
    return f"its bridge is stopped (port {inst.port} is taken); Tray → Why… says by what"


def cmd_send(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Send, print, map the end state to an exit code."""
    import asyncio
    import logging
    import time

    from keybroker.cli.send_notes import warn_not_given, watching
    from keybroker.core.errors import AgentUnreachable, PolicyDenied, TaskFailed
    from keybroker.system.instance import read_instance

    inst = read_instance(ctx.paths)
    if inst is None:
        raise AgentUnreachable(
            "Keybroker is not running, so there is no bridge to send through",
            hint="start the app (`keybroker`) or `keybroker serve --headless`",
        )
    if not inst.listening:
        raise AgentUnreachable(f"Keybroker runs (pid {inst.pid}) but {_not_listening(inst)}")
    admin = ctx.admin()
    agent = admin.agent(args.slug)  # an unknown slug exits 3
    timeout: float | None = getattr(args, "timeout", None)
    if timeout is None:
        api = ctx.api()
        timeout = default_timeout(api.status() if api is not None else None)
    logging.getLogger("keybroker.cli").info("send: waits up to %g s for the run to end", timeout)
    token = None
    try:
        token = ctx.paths.token_file.read_text("ascii").strip() or None
    except OSError:
        token = None
    url = f"{inst.url}/agents/{args.slug}"
    started = time.time()
    out = asyncio.run(watching(_send_within(url, args, token, timeout), ctx.api(), args.slug))
    if not args.json and not args.stream and out.texts:
        sys.stdout.write("\n".join(out.texts) + "\n")
    warn_not_given(admin, agent, started)
    ids = f"task {out.task_id}, context {out.context_id}" if out.task_id else f"context {out.context_id}"
    if out.state in ("failed", "rejected", "canceled"):
        raise TaskFailed(
            f"the task ended {out.state} ({ids})" + (f": {out.status_note}" if out.status_note else "")
        )
    if out.state == "auth-required":
        raise PolicyDenied(
            f"the agent still needs a secret: the prompt was declined or timed out ({ids})",
            hint="send again and allow it, or store it with `keybroker secrets set KEY --agent "
            + args.slug
            + "`",
        )
    if out.state == "input-required":
        info(
            f"the agent asks for more input ({ids}); "
            f"answer with --task {out.task_id} --context {out.context_id}"
        )
    elif out.context_id:
        info(f"{out.state or 'done'} ({ids})")
    return 0
