# SPDX-License-Identifier: Apache-2.0
"""The A2A bridge: an ASGI app fronting local agents for A2A 0.3 and 1.0 clients (DESIGN §1, §2)."""

from keybroker.core.bridge.app import BridgeApp
from keybroker.core.bridge.masking import mask_payload, mask_proto
from keybroker.core.bridge.ports import AgentLookup, Fulfilment, SecretSource
from keybroker.core.bridge.server import running_bridge
from keybroker.core.bridge.upstream import UpstreamLimits

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
