# SPDX-License-Identifier: Apache-2.0
"""Whether the fast path may take a send as it is (fast_path.py): the full path would forward it unchanged.

`admissible` answers at once for the plain shapes real clients send (send_shape.py) and otherwise asks
the SDK (`sdk_accepts`: its model validation, the bridge's own checks in params.py, and no nesting
deeper than the bridge walks), so every verdict is the full path's. `starts_task`: the message starts
a task (no taskId, no referenceTaskIds) and its metadata carries nothing of the secrets extension (the
full path checks a client's own fulfilments).
"""

from __future__ import annotations

from typing import Any

from a2a.compat.v0_3 import conversions
from a2a.types import SendMessageRequest
from google.protobuf.json_format import ParseDict  # type: ignore[import-untyped]

from keybroker.core.a2a.demand import SECRETS_EXTENSION_URI
from keybroker.core.bridge.fast_stream import V03_REQUESTS
from keybroker.core.bridge.params import check_params, v03_rpc_problem
from keybroker.core.bridge.proto_walk import MAX_DEPTH
from keybroker.core.bridge.send_shape import plain_send

__all__ = ["admissible", "sdk_accepts", "starts_task"]


def _depth(data: object, limit: int) -> int:
    """How deep `data` nests, counted up to just past `limit`."""
    if limit < 0 or not isinstance(data, dict | list):
        return 0
    items = data.values() if isinstance(data, dict) else data
    return 1 + max((_depth(item, limit - 1) for item in items), default=0)


def admissible(rpc: dict[str, Any], version: str, *, legacy_agent: bool) -> bool:
    """Whether the full path would forward the request as it is: at once for a plain send (send_shape.py),
    else by asking the SDK (`sdk_accepts`)."""
    return plain_send(rpc, version) or sdk_accepts(rpc, version, legacy_agent=legacy_agent)


def sdk_accepts(rpc: dict[str, Any], version: str, *, legacy_agent: bool) -> bool:
    """Whether the full path would forward the request as it is (else it answers the error the client
    gets today): the SDK's model validation, the bridge's own checks (params.py), and no nesting
    deeper than the bridge walks."""
    try:
        if version == "1.0":
            params = ParseDict(rpc["params"], SendMessageRequest(), ignore_unknown_fields=True)
        else:
            method, model = rpc["method"], V03_REQUESTS[rpc["method"]]
            if v03_rpc_problem(method, rpc, model, legacy_agent=legacy_agent) is not None:
                return False
            params = conversions.to_core_send_message_request(model.model_validate(rpc))
        check_params(params, legacy_agent=legacy_agent)
    except Exception:
        return False
    return _depth(rpc["params"], MAX_DEPTH) <= MAX_DEPTH


def starts_task(message: dict[str, Any]) -> bool:
    if message.get("taskId") or message.get("referenceTaskIds"):
        return False
    metadata = message.get("metadata")
    return not (isinstance(metadata, dict) and SECRETS_EXTENSION_URI in metadata)
