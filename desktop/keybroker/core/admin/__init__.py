# SPDX-License-Identifier: Apache-2.0
"""What a user reads and changes: the `Admin` interface and its small result types (port.py), and
`LocalAdmin`, its implementation in this process (local.py). `RemoteAdmin` is cli/remote_admin.py's."""

from keybroker.core.admin.local import LocalAdmin
from keybroker.core.admin.port import (
    Admin,
    AdminStores,
    AgentRefresh,
    AgentRemoval,
    BrokerHooks,
    SecretHistory,
    SecretRef,
    owners_of,
)

__all__ = [
    "Admin",
    "AdminStores",
    "AgentRefresh",
    "AgentRemoval",
    "BrokerHooks",
    "LocalAdmin",
    "SecretHistory",
    "SecretRef",
    "owners_of",
]
