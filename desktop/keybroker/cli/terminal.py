"""A terminal opened by path (`/dev/tty`), read and written through the running event loop (POSIX).

Waiting for the user never blocks the loop, so a caller can cancel a read mid-line; values are read
with echo off (`readline(hidden=True)`). terminal_prompter.py asks its questions through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator


class TerminalClosed(Exception):
    """The terminal reached end of file (Ctrl-D) or went away."""


class Terminal:
    """A terminal opened by path, read and written through the running event loop (POSIX)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pending = b""

    @classmethod
    def open(cls, path: str) -> Terminal:
        """Open `path`; OSError when it cannot be opened or is not a terminal."""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        if not os.isatty(fd):
            os.close(fd)
            raise OSError(f"{path} is not a terminal")
        return cls(fd)

    def close(self) -> None:
        """Close the descriptor."""
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def write_now(self, text: str) -> None:
        """Best-effort write that never waits (used while being cancelled)."""
        with contextlib.suppress(OSError):
            os.write(self.fd, text.encode("utf-8", "replace"))

    async def write(self, text: str) -> None:
        """Write all of `text`, waiting (without blocking the loop) while the terminal is full."""
        data = text.encode("utf-8", "replace")
        while data:
            try:
                data = data[os.write(self.fd, data) :]
            except BlockingIOError:
                await self._wait(writable=True)
            except OSError as exc:
                raise TerminalClosed from exc

    async def readline(self, *, hidden: bool = False, prompt: str = "") -> str:
        """One line without its end; `hidden` turns echo off meanwhile. TerminalClosed on EOF.

        `prompt` is written only once echo is off, so a value typed as soon as the question shows
        is never echoed."""
        with self._echo_off() if hidden else contextlib.nullcontext():
            if prompt:
                await self.write(prompt)
            while b"\n" not in self._pending and b"\r" not in self._pending:
                self._pending += await self._read_some()
        for end in (b"\r\n", b"\n", b"\r"):
            line, sep, rest = self._pending.partition(end)
            if sep:
                self._pending = rest
                return line.decode("utf-8", "replace")
        raise AssertionError("unreachable: a line end was found above")

    async def _read_some(self) -> bytes:
        while True:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                await self._wait(writable=False)
                continue
            except OSError as exc:  # EIO: the other side of the terminal went away
                raise TerminalClosed from exc
            if not data:  # Ctrl-D at the start of a line, or the other side closed
                raise TerminalClosed
            return data

    async def _wait(self, *, writable: bool) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if writable:
            loop.add_writer(self.fd, wake)
        else:
            loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            if writable:
                loop.remove_writer(self.fd)
            else:
                loop.remove_reader(self.fd)

    @contextlib.contextmanager
    def _echo_off(self) -> Iterator[None]:
        import termios

        old = termios.tcgetattr(self.fd)
        new = termios.tcgetattr(self.fd)
        new[3] &= ~termios.ECHO
        # TCSANOW, not TCSAFLUSH/TCSADRAIN: on a pseudo-terminal those wait for the reader or drop input.
        termios.tcsetattr(self.fd, termios.TCSANOW, new)
        try:
            yield
        finally:
            termios.tcsetattr(self.fd, termios.TCSANOW, old)
            self.write_now("\n")
