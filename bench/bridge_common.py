# SPDX-License-Identifier: Apache-2.0
"""What the bridge benchmark's processes share: names, the listening socket, the ready line.

Standard library only: the load generator imports this too and must stay cheap.
"""

from __future__ import annotations

import socket
import sys

SECRETS_URI = "https://a2a-extensions.agentstack.beeai.dev/auth/secrets/v1"
#: The demand the echo agent declares on its card (the bridge fulfils it before forwarding).
CARD_KEY = "bench_key"
#: The demand the echo agent makes at run time (`auth-required`) when the text starts with RUNTIME_WORD.
RUNTIME_KEY = "bench_runtime"
RUNTIME_WORD = "runtime"
#: Slug of the echo agent on the bridge.
SLUG = "echo"
#: Fake values: the benchmark never touches a real secret. Shaped like real keys ("sk-..."): a value that
#: began with a word of the echoed text ("hello bench") would make the bridge hold that word back at the
#: end of each streamed chunk (it could be the start of the value, chunks.py) and split the answer.
CARD_VALUE = "sk-bench-card-value-0123456789abcdef"
RUNTIME_VALUE = "sk-bench-runtime-value-0123456789abcdef"
#: What the echo agent puts before the echoed text when the first message carried CARD_KEY.
SEEN_MARK = "secret=yes"
READY = "READY"


def listen_loopback(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (`port=0`: a free one).

    `IPPROTO_TCP` matters: asyncio sets TCP_NODELAY on accepted connections only when the listening
    socket says it is TCP; otherwise Nagle and delayed ACKs add ~40 ms to some responses.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


def say_ready(port: int) -> None:
    """Tell the parent (reading our stdout) that we serve on `port`."""
    sys.stdout.write(f"{READY} {port}\n")
    sys.stdout.flush()
