# SPDX-License-Identifier: Apache-2.0
"""`keybroker serve` on a data disk that fills up: run inside `unshare -rm` (test_release_audit.py).

Usage: `unshare -rm python full_disk_run.py MOUNTPOINT AGENT_URL`. In its own mount namespace it
mounts a small tmpfs at MOUNTPOINT and makes it Keybroker's home, starts `serve --headless --port 0`
on the session-only vault (no D-Bus needed across the user namespace), stores two values for the
agent through it, sends once, fills the disk, sends three times through the bridge with raw JSON-RPC,
frees the disk, sends again, then prints one JSON object: the answers, `audit verify`'s exit code
and the audit log. The tmpfs goes when the namespace does (when this process exits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx

OPENAI = "sk-CANARY-tmpfs-full-0123456789"
GITHUB = "ghp_CANARY_tmpfs_full_abcdef"


def kb(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keybroker", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fill(path: Path) -> None:
    """Write zeros until the disk says it is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def send(url: str) -> dict[str, Any]:
    message = {
        "kind": "message",
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "parts": [{"kind": "text", "text": "go keys=openai"}],
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}
    with httpx.Client(trust_env=False, timeout=60) as http:
        answer = http.post(url, json=body)
    return {"status": answer.status_code, "body": answer.text}


def main() -> int:
    mount, agent_url = Path(sys.argv[1]), sys.argv[2]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    os.environ["KEYBROKER_HOME"] = str(mount / "home")
    os.environ["KEYBROKER_VAULT"] = "memory"
    out: dict[str, Any] = {}
    serve = subprocess.Popen(
        [sys.executable, "-m", "keybroker", "serve", "--headless", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stderr is not None
        line = serve.stderr.readline()
        while line and not line.startswith("listening on "):
            line = serve.stderr.readline()
        threading.Thread(target=serve.stderr.read, daemon=True).start()  # never let its pipe fill up
        bridge = line.split()[-1].rstrip("/") + "/agents/demo"
        steps = [  # through the running instance's API
            kb("agents", "add", agent_url, "--slug", "demo"),
            kb("secrets", "set", "openai", "--agent", "demo", stdin=OPENAI),
            kb("secrets", "set", "github", "--agent", "demo", stdin=GITHUB),
        ]
        out["setup"] = [s.returncode for s in steps]
        out["before"] = send(bridge)
        filler = mount / "filler"
        fill(filler)
        out["full"] = [send(bridge) for _ in range(3)]
        filler.unlink()
        out["after"] = send(bridge)
        verify = kb("audit", "verify")
        out["verify"] = {"rc": verify.returncode, "out": verify.stdout + verify.stderr}
        events = kb("audit", "--json")
        out["events"] = json.loads(events.stdout) if events.returncode == 0 else events.stderr
    finally:
        serve.terminate()
        serve.wait(30)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
