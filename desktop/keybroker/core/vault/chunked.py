"""A vault's entries read and written as whole values, in the layout of format.py (inline, or a header
and its chunks), over one backend and service.

`ChunkedEntries` is what the `Vault`'s jobs do on its worker thread (vault.py): every method takes the
worker's `tick` and calls it before each backend call, so the timeout counts per call. Backend errors
come out raw; the vault maps them (errors.py). Nothing here logs, raises or reprs a value.
"""

from __future__ import annotations

from keybroker.core.errors import VaultError
from keybroker.core.models import SecretValue
from keybroker.core.vault import format as fmt
from keybroker.core.vault.backend import VaultBackend, is_missing_entry
from keybroker.core.vault.worker import Tick

_READ_ATTEMPTS = 3


class ChunkedEntries:
    """Get, set and delete whole values at accounts of `service`, chunked over `limit` bytes of `encoding`."""

    def __init__(self, backend: VaultBackend, *, service: str, limit: int | None, encoding: str) -> None:
        self.backend = backend
        self.service = service
        self.limit = limit
        """Entry size in bytes of `encoding` over which a value is chunked; None: never chunk."""
        self.encoding = encoding

    def raw_get(self, tick: Tick, account: str) -> str | None:
        """The entry stored at `account` as the backend holds it (a tag and text), or None."""
        tick()
        return self.backend.get_password(self.service, account)

    def _raw_set(self, tick: Tick, account: str, text: str) -> None:
        tick()
        self.backend.set_password(self.service, account, text)

    def accounts(self, tick: Tick) -> list[str] | None:
        """Every account of `service` the backend holds (chunks too); None when it cannot list."""
        lister = getattr(self.backend, "accounts", None)
        if not callable(lister):
            return None
        tick()
        return sorted(str(account) for account in lister(self.service))

    def delete_entry(self, tick: Tick, account: str) -> bool:
        """Delete one entry as it is (a chunk, or a main entry without its chunks); False when missing."""
        return self._raw_delete(tick, account)

    def _raw_delete(self, tick: Tick, account: str) -> bool:
        """Delete one entry; False when the backend says there was none."""
        tick()
        try:
            self.backend.delete_password(self.service, account)
        except Exception as exc:
            if is_missing_entry(exc):  # ours, or keyring's PasswordDeleteError
                return False
            raise
        return True

    def _read_header(self, tick: Tick, account: str) -> fmt.ChunkHeader | None:
        """The current chunk header at `account`, if the entry there is chunked."""
        raw = self.raw_get(tick, account)
        if raw is None:
            return None
        try:
            entry = fmt.parse_entry(raw, account)
        except VaultError:
            return None  # not ours: it is simply overwritten
        return entry if isinstance(entry, fmt.ChunkHeader) else None

    def get(self, tick: Tick, account: str) -> SecretValue | None:
        """The value at `account` (its chunks joined and checked), or None; VaultError when damaged."""
        for _ in range(_READ_ATTEMPTS):
            raw = self.raw_get(tick, account)
            if raw is None:
                return None
            entry = fmt.parse_entry(raw, account)
            if isinstance(entry, fmt.Inline):
                return SecretValue(entry.value)
            pieces: list[str] = []
            for index in range(entry.count):
                piece = self.raw_get(tick, fmt.chunk_account(account, entry.generation, index))
                if not piece:
                    break
                pieces.append(piece)
            else:
                value = "".join(pieces)
                if fmt.digest(value) == entry.sha256:
                    return SecretValue(value)
            # Another process may have replaced the value between our reads: read the header again.
        raise VaultError(
            f"the vault entry {account!r} is damaged: its chunks are missing or do not match",
            hint="store the value again with `keybroker secrets set`",
        )

    def set(self, tick: Tick, account: str, text: str) -> None:
        """Store `text` at `account`, chunks first and the header last; the old chunks go after."""
        limit, encoding = self.limit, self.encoding
        inline = fmt.inline_entry(text)
        # Read first even when this vault never chunks (limit None): the entry may have been written
        # chunked under another limit (a vault shared with an older or differently set up Keybroker),
        # and its chunks, pieces of the old value, must not outlive it.
        old = self._read_header(tick, account)
        if limit is None or fmt.fits(inline, limit, encoding):
            self._raw_set(tick, account, inline)
        else:
            generation = fmt.next_generation(old)
            pieces = fmt.split_encoded(text, limit, encoding)
            for index, piece in enumerate(pieces):
                self._raw_set(tick, fmt.chunk_account(account, generation, index), piece)
            # Leftovers of an interrupted earlier write at this generation.
            self._sweep(tick, account, generation, start=len(pieces))
            header = fmt.ChunkHeader(generation, len(pieces), fmt.digest(text)).to_entry()
            if not fmt.fits(header, limit, encoding):
                raise VaultError(f"the chunk header for {account!r} does not fit the vault's entry size")
            self._raw_set(tick, account, header)  # the commit: readers now see the new value
        if old is not None:
            self._delete_chunks(tick, account, old)

    def delete(self, tick: Tick, account: str) -> bool:
        """Remove the value and its chunks (and leftovers); False when nothing was there."""
        raw = self.raw_get(tick, account)
        old: fmt.ChunkHeader | None = None
        if raw is not None:
            try:
                entry = fmt.parse_entry(raw, account)
            except VaultError:
                entry = None
            old = entry if isinstance(entry, fmt.ChunkHeader) else None
            # The main entry goes first: a reader never sees a header whose chunks are gone.
            if not self._raw_delete(tick, account) and self.raw_get(tick, account) is not None:
                raise VaultError(f"the vault refused to delete {account!r}")
        if old is not None:
            self._delete_chunks(tick, account, old)
        if self.limit is not None:
            # Chunks an interrupted write may have left at either generation.
            for generation in fmt.GENERATIONS:
                if old is None or generation != old.generation:
                    self._sweep(tick, account, generation, start=0)
        return raw is not None

    def _delete_chunks(self, tick: Tick, account: str, header: fmt.ChunkHeader) -> None:
        for index in range(header.count):
            self._raw_delete(tick, fmt.chunk_account(account, header.generation, index))
        self._sweep(tick, account, header.generation, start=header.count)

    def _sweep(self, tick: Tick, account: str, generation: int, *, start: int) -> None:
        """Delete chunks `start`, `start+1`, ... of a generation until one is missing."""
        bound = fmt.max_chunks(self.limit or fmt.MIN_CHUNK_LIMIT_BYTES)
        for index in range(start, bound):
            if not self._raw_delete(tick, fmt.chunk_account(account, generation, index)):
                return
