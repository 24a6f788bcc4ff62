# SPDX-License-Identifier: Apache-2.0
"""The A2A bridge: an ASGI app fronting local agents for A2A 0.3 and 1.0 clients (DESIGN §1, §2).

The names below load on first use (PEP 562), so importing one light module of this package (the
caller lookup, the credentials) does not import a2a-sdk, which the app defers until a bridged request
needs it (DESIGN §7, app.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keybroker.core.bridge.app import BridgeApp
    from keybroker.core.bridge.limits import UpstreamLimits
    from keybroker.core.bridge.masking import mask_payload, mask_proto
    from keybroker.core.bridge.ports import AgentLookup, Fulfilment, SecretSource
    from keybroker.core.bridge.server import running_bridge

__all__ = [
    "AgentLookup",
    "BridgeApp",
    "Fulfilment",
    "SecretSource",
    "UpstreamLimits",
    "mask_payload",
    "mask_proto",
    "running_bridge",
]

_WHERE = {
    "AgentLookup": "ports",
    "BridgeApp": "app",
    "Fulfilment": "ports",
    "SecretSource": "ports",
    "UpstreamLimits": "limits",
    "mask_payload": "masking",
    "mask_proto": "masking",
    "running_bridge": "server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
