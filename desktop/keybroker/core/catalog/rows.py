# SPDX-License-Identifier: Apache-2.0
"""Records to table rows and back, derived from the records' own fields (one column per field).

A table's columns carry the names of its record's dataclass fields, in field order, so `Rows(Grant)`
knows `grant_id, agent, secret_id, ...` without a second list to keep in step: a field added to a
record and a column added by a migration meet here by name, and a mismatch fails at the first query.
Fields that SQLite cannot hold as they are (tuples, enums, booleans) name a codec.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from keybroker.core.models import (
    AgentRecord,
    AuditDecision,
    AuditEvent,
    Grant,
    GrantScope,
    ModelDemand,
    SecretDemand,
    SecretRecord,
    SecurityScheme,
)

__all__ = ["AGENT_ROWS", "AUDIT_ROWS", "GRANT_ROWS", "SECRET_ROWS", "Codec", "Rows"]

_R = TypeVar("_R")


@dataclasses.dataclass(frozen=True)
class Codec:
    """How one field goes into its column (`to_db`) and comes back (`from_db`)."""

    to_db: Callable[[Any], Any]
    from_db: Callable[[Any], Any]


class Rows(Generic[_R]):
    """Maps records of one dataclass to rows of one table (see the module docstring)."""

    def __init__(self, record: type[_R], codecs: Mapping[str, Codec] | None = None) -> None:
        fields = dataclasses.fields(record)  # type: ignore[arg-type]
        self.record_type = record
        self.names: tuple[str, ...] = tuple(f.name for f in fields)
        unknown = set(codecs or {}) - set(self.names)
        if unknown:
            raise ValueError(f"codecs for fields {record.__name__} does not have: {sorted(unknown)}")
        self._codecs = dict(codecs or {})
        #: `seq, ts, decision, ...`: for SELECT and INSERT.
        self.columns = ", ".join(self.names)
        #: `?, ?, ?, ...`: one placeholder per column.
        self.placeholders = ", ".join("?" * len(self.names))

    def row(self, record: _R) -> tuple[Any, ...]:
        """The row of `record`, column by column."""
        out = []
        for name in self.names:
            value = getattr(record, name)
            codec = self._codecs.get(name)
            out.append(codec.to_db(value) if codec is not None else value)
        return tuple(out)

    def record(self, row: Sequence[Any]) -> _R:
        """The record of a row selected with `columns` first (columns after them are not read)."""
        values = {}
        for name, value in zip(self.names, row[: len(self.names)], strict=True):
            codec = self._codecs.get(name)
            values[name] = codec.from_db(value) if codec is not None else value
        return self.record_type(**values)


def json_tuple(item_to: Callable[[Any], Any], item_from: Callable[[Any], Any]) -> Codec:
    """A tuple of items kept as a JSON list."""
    return Codec(
        to_db=lambda items: json.dumps([item_to(i) for i in items]),
        from_db=lambda text: tuple(item_from(i) for i in json.loads(text)),
    )


def _same(value: Any) -> Any:
    return value


BOOL = Codec(to_db=int, from_db=bool)


def enum_codec(cls: Callable[[Any], Any]) -> Codec:
    """A `StrEnum` kept as its value."""
    return Codec(to_db=lambda member: member.value, from_db=cls)


AGENT_ROWS: Rows[AgentRecord] = Rows(
    AgentRecord,
    {
        "protocol_versions": json_tuple(_same, str),
        # A demand's scheme is not kept: card demands never carry one (schemes are kept apart).
        "demands": json_tuple(lambda d: [d.key, d.name, d.description], lambda x: SecretDemand(*x[:3])),
        "schemes": json_tuple(dataclasses.asdict, lambda x: SecurityScheme(**x)),
        "security": json_tuple(list, tuple),
        "streaming": BOOL,
        "require_token": BOOL,
        "model_demands": json_tuple(
            lambda d: [d.kind, d.name, d.description, list(d.suggested)],
            lambda x: ModelDemand(x[0], x[1], x[2], tuple(x[3])),
        ),
    },
)
SECRET_ROWS: Rows[SecretRecord] = Rows(SecretRecord)
GRANT_ROWS: Rows[Grant] = Rows(Grant, {"scope": enum_codec(GrantScope)})
#: The audit table's columns, in the order the chain hashes them (audit/log.py); exports list them too.
AUDIT_ROWS: Rows[AuditEvent] = Rows(AuditEvent, {"decision": enum_codec(AuditDecision)})
