# SPDX-License-Identifier: Apache-2.0
"""Running the a2a-sdk 0.3 client script (peer_client_v03.py) from the peer venv, for bridge tests."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import PEER_PYTHON_ENV

PEER_CLIENT = Path(__file__).parent / "peer_client_v03.py"


async def peer_client_run(url: str, text: str, *flags: str) -> dict[str, Any]:
    """Run peer_client_v03.py with the peer venv's python; its JSON result plus `raw` (the stdout)."""
    python = os.environ.get(PEER_PYTHON_ENV)
    if not python:
        pytest.skip(f"{PEER_PYTHON_ENV} is unset: no a2a-sdk 0.3 client to run")
    process = await asyncio.create_subprocess_exec(
        python,
        str(PEER_CLIENT),
        url,
        text,
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out)
    result["raw"] = out.decode()
    return result
