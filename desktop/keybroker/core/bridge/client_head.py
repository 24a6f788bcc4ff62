# SPDX-License-Identifier: Apache-2.0
"""A fast stream's response head, sent once the agent's request is on its way (issue 16).

A streamed answer's head (`200`, `text/event-stream`) used to go to the client before the bridge
wrote the agent's request: a write and uvicorn's work on the head (~50 µs here) between the release
and the agent starting on it, added to the time of the stream's first event. fast_stream.py now asks
for the head (`ClientHead`) from inside the hop, once the request is written (fast_hop.py,
lean_post.py), or before anything that could keep the client waiting for it: a full admission gate, a
connection still to open. Whoever sends the response binds how (rpc_route.py), and sends the head
itself before the first chunk or the end if the stream never asked. Unbound (a server sending the
response as Starlette does, head first), asking does nothing. The stream also says which chunk is its
last (`ClientHead.last`), so its end goes out with it.

Light on purpose: rpc_route.py imports it before the A2A stack is loaded (DESIGN §7).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import StreamingResponse

__all__ = ["ClientHead", "HeadedStreamingResponse"]


class ClientHead:
    """The client's response head, sent when first asked for (`await head()`), once bound; and `last`,
    which the stream sets before it yields its last chunk: the sender ends the response with that
    chunk (uvicorn writes it and the end of the chunked body at once), not with an empty one after it,
    a second write."""

    __slots__ = ("_send", "last")

    def __init__(self) -> None:
        self._send: Callable[[], Awaitable[None]] | None = None
        self.last = False

    def bind(self, send: Callable[[], Awaitable[None]]) -> None:
        """How to send the head (it must send it once however often it is called)."""
        self._send = send

    async def __call__(self) -> None:
        if self._send is not None:
            await self._send()


class HeadedStreamingResponse(StreamingResponse):
    """A `StreamingResponse` whose body asks for its head (`head`) when it is time to send it."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        head: ClientHead,
        *,
        media_type: str,
        headers: Mapping[str, str],
        **options: Any,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers, **options)
        self.head = head
