"""The audit log's hash chain: how an event is hashed, and what a chain and the head kept in the vault
say together (`check_chain`, the heart of `AuditLog.verify`, log.py).

Each event's hash covers its fields and the previous event's hash (the first follows GENESIS), so an
edited, deleted or reordered event breaks the chain; the head (the newest event's number and hash,
head.py) catches events cut off the end. A head *behind* an intact log (the event it counts carries
its hash) is a warning, not a problem: events appended since it was last written, which the running
app does at most about a second after a release (head.py's pace), or a crash left unwritten. The
events it counts are intact; those after it were never covered by it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keybroker.core.catalog.rows import AUDIT_ROWS
from keybroker.core.models import from_json

__all__ = ["GENESIS", "AuditReport", "check_chain", "event_hash"]

GENESIS = "0" * 64

#: Every column but the event's own hash goes into that hash, in table order.
_HASHED = AUDIT_ROWS.names[:-1]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of `verify`."""

    ok: bool
    count: int
    head: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditReport:
        """The report `to_json` described (the management API's answer)."""
        return from_json(cls, data, problems=tuple, warnings=tuple)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "ok": self.ok,
            "count": self.count,
            "head": self.head,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the hashed fields (prev_hash included)."""
    canonical = json.dumps(
        {k: fields[k] for k in _HASHED}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_chain(
    rows: Sequence[Sequence[Any]], stored: tuple[int, str] | None, *, kept: bool, required: bool
) -> AuditReport:
    """The report on `rows` (every event, in `AUDIT_ROWS` order, by sequence number) against the head
    `stored` in the vault. `kept`: a head is kept at all; `required`: it must be there once the log has
    events (not in a session-only vault, whose head does not survive a restart)."""
    problems: list[str] = []
    warnings: list[str] = []
    prev = GENESIS
    expected_seq = 1
    counted_hash: str | None = None  # the hash of the event the stored head counts, when there is one
    for row in rows:
        fields = dict(zip(AUDIT_ROWS.names, row, strict=True))
        seq = fields["seq"]
        if seq != expected_seq:
            problems.append(f"event {seq}: expected sequence number {expected_seq} (an event is missing)")
        if fields["prev_hash"] != prev:
            problems.append(f"event {seq}: does not follow the event before it (deleted or reordered)")
        if event_hash(fields) != fields["hash"]:
            problems.append(f"event {seq}: its contents do not match its hash (edited)")
        prev = fields["hash"]
        if stored is not None and seq == stored[0]:
            counted_hash = prev
        expected_seq = seq + 1
    count = len(rows)
    head = prev if rows else GENESIS
    if kept and stored is None:
        if count and required:
            problems.append("the vault holds no audit head although the log has events")
        elif count:
            warnings.append("session-only vault: the audit head does not survive a restart")
    elif kept and stored is not None:
        stored_count, stored_head = stored
        if stored_count < count and not problems and counted_hash == stored_head:
            behind = count - stored_count  # a head behind an intact log (module docstring)
            warnings.append(
                f"the vault's head is {behind} event{'s' if behind != 1 else ''} behind the log "
                "(the running app writes it within about a second of a release)"
            )
        elif stored_count != count:
            # The head counts by the newest event's number: with that number still there, what is
            # missing is missing before it (and reported by number above).
            newest = expected_seq - 1
            where = "from the end" if newest < stored_count else "before the newest one"
            said = f"the vault's head says {stored_count} events, the log has {count}"
            problems.append(f"{said} (events were removed {where})" if stored_count > count else said)
        elif stored_head != head:
            problems.append("the last event does not match the head kept in the vault")
    return AuditReport(
        ok=not problems, count=count, head=head, problems=tuple(problems), warnings=tuple(warnings)
    )
