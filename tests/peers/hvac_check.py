# SPDX-License-Identifier: Apache-2.0
"""Run by the OpenBao peer venv's python (it has hvac): KV v2 write/read with check-and-set, as JSON.

Usage: python hvac_check.py URL TOKEN PATH   -> prints {"hvac": version, "versions": [...], ...}
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

import hvac  # type: ignore[import-not-found]
from hvac.exceptions import InvalidRequest  # type: ignore[import-not-found]


def main(url: str, token: str, path: str) -> None:
    client = hvac.Client(url=url, token=token)
    kv = client.secrets.kv.v2
    # cas=0: write only if the key does not exist yet.
    first = kv.create_or_update_secret(path=path, secret={"api_key": "one"}, cas=0, mount_point="secret")
    second = kv.create_or_update_secret(path=path, secret={"api_key": "two"}, cas=1, mount_point="secret")
    stale = ""
    try:
        kv.create_or_update_secret(path=path, secret={"api_key": "lost"}, cas=1, mount_point="secret")
    except InvalidRequest as exc:
        stale = str(exc)
    read = kv.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    print(
        json.dumps(
            {
                "hvac": version("hvac"),
                "authenticated": client.is_authenticated(),
                "versions": [first["data"]["version"], second["data"]["version"]],
                "stale_cas_error": stale,
                "read": read["data"]["data"],
                "read_version": read["data"]["metadata"]["version"],
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
