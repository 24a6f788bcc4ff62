# SPDX-License-Identifier: Apache-2.0
"""What the bridge benchmark sends: load-generator jobs (bridge_load.py's `Job`) per workload and target.

Targets whose name starts with `bridge` get messages without secrets (the bridge injects them, and
must mask them in what it returns: the job rejects any answer carrying one). The others get the value
the card demands in the message itself, as a client without the bridge must send it, so the agent does
the same work whichever way a request came.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bridge_common import (
    CARD_KEY,
    CARD_VALUE,
    RUNTIME_KEY,
    RUNTIME_VALUE,
    RUNTIME_WORD,
    SECRETS_URI,
    SEEN_MARK,
)

TEXT = "hello bench"


def _metadata(values: dict[str, str]) -> dict[str, Any]:
    return {SECRETS_URI: {"secret_fulfillments": {k: {"secret": v} for k, v in values.items()}}}


def _message_v03(text: str, metadata: dict[str, Any] | None, **ids: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "kind": "message",
        "role": "user",
        "messageId": "@ID@",
        "parts": [{"kind": "text", "text": text}],
        **ids,
    }
    if metadata:
        message["metadata"] = metadata
    return message


def _message_v10(text: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "ROLE_USER", "messageId": "@ID@", "parts": [{"text": text}]}
    if metadata:
        message["metadata"] = metadata
    return message


def _rpc(method: str, message: dict[str, Any], request_id: int = 1) -> str:
    params: dict[str, Any] = {"message": message}
    if method == "message/send":
        params["configuration"] = {"blocking": True}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def _bridged(target: str) -> bool:
    return target.startswith("bridge")


@dataclass(frozen=True)
class Workload:
    """One kind of request, as it is sent to a target."""

    name: str
    label: str
    streaming: bool = False

    def job(self, target: str, port: int, path: str) -> dict[str, Any]:
        """The load-generator job for `target` listening on `port` at `path`."""
        metadata = None if _bridged(target) else _metadata({CARD_KEY: CARD_VALUE})
        headers: dict[str, str] = {}
        if self.name in ("send10", "stream10"):
            method = "SendStreamingMessage" if self.streaming else "SendMessage"
            body = _rpc(method, _message_v10(TEXT, metadata))
            headers["A2A-Version"] = "1.0"
            expect = [f"{SEEN_MARK} {TEXT}", "TASK_STATE_COMPLETED"]
        else:
            body = _rpc("message/stream" if self.streaming else "message/send", _message_v03(TEXT, metadata))
            expect = [f"{SEEN_MARK} {TEXT}", '"completed"']
        if self.streaming:
            headers["Accept"] = "text/event-stream"
        job: dict[str, Any] = {"port": port, "path": path, "body": body, "headers": headers, "expect": expect}
        if _bridged(target):
            job["reject"] = [CARD_VALUE]
        return job


WORKLOADS = (
    Workload("send03", "message/send (0.3)"),
    Workload("send10", "SendMessage (1.0)"),
    Workload("stream03", "message/stream (0.3)", streaming=True),
    Workload("stream10", "SendStreamingMessage (1.0)", streaming=True),
)
#: `--workloads` may also name this: the run-time demand measurements.
FULFIL = "fulfil"


def fulfil_job(target: str, port: int, path: str, streaming: bool) -> dict[str, Any]:
    """A run-time demand: resumed by hand (two requests) direct, or answered by the bridge (one request)."""
    method = "message/stream" if streaming else "message/send"
    text = f"{RUNTIME_WORD} {TEXT}"
    job: dict[str, Any] = {
        "port": port,
        "path": path,
        "headers": {"Accept": "text/event-stream"} if streaming else {},
        "expect": [f"{SEEN_MARK} resumed", '"completed"'],
    }
    if _bridged(target):
        job["body"] = _rpc(method, _message_v03(text, None))
        job["reject"] = [CARD_VALUE, RUNTIME_VALUE]
        return job
    job["body"] = _rpc(method, _message_v03(text, _metadata({CARD_KEY: CARD_VALUE})))
    resume = _message_v03(
        "secrets provided", _metadata({RUNTIME_KEY: RUNTIME_VALUE}), taskId="@TASK@", contextId="@CTX@"
    )
    job["resume"] = _rpc(method, resume, 2)
    job["resume_expect"] = ['"auth-required"']
    return job
